/**
 * The session core's logging (src/session/session.ts): a line below the root logger's level is never
 * built, so a session at the default `warn` never builds its per-connection logger (pino's child()
 * is a measurable part of session setup, bench/RESULTS.md); at `info` the session_closed line still
 * says why and how the session ended. The session runs in tests/helpers/session-rig.ts.
 */
import { startSession } from '../helpers/session-rig';

async function loginAndLeave(t: ReturnType<typeof startSession>): Promise<void> {
  t.session.clientOpen(t.openAttrs);
  const server = await t.connect();
  server.close(); // the client goes without <close/>
}

it('builds no per-connection logger for a whole session when info is off', async () => {
  const t = startSession({ trace: false, debug: false, info: false });
  await loginAndLeave(t);
  expect(t.session.isFinished).toBe(true);
  expect(t.logger.built).toBe(0);
  expect(t.logger.lines).toEqual([]);
});

it('logs session_closed with the reason and the counters when info is on', async () => {
  const t = startSession({ trace: false, debug: false, info: true });
  await loginAndLeave(t);
  expect(t.logger.built).toBe(1);
  expect(t.logger.lines).toHaveLength(1);
  expect(t.logger.lines[0]).toMatchObject({ event: 'session_closed', reason: 'client_gone', condition: null, origin: 'client', bytes_in: 0, msg: 'session closed' });
});

it('adds the debug lines of the session when debug is on, the closing line last', async () => {
  const t = startSession({ trace: false, debug: true, info: true });
  await loginAndLeave(t);
  const events = t.logger.lines.map((l) => l.event);
  expect(events).toEqual(['connection_opened', 'upstream_connected', 'session_closed']);
});
