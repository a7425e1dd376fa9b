/**
 * The reference run: the three client drivers (tests/clients/scenario.md) against Prosody's OWN
 * RFC 7395 endpoint, mod_websocket, with no gateway in between. It proves the drivers and the
 * private Prosody are sound, so that when the same drivers fail through the gateway, the gateway
 * is to blame.
 */
import { existsSync } from 'node:fs';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { describeDriverResult, expectScenarioPassed, runDriver, type DriverArgs, type DriverName } from '../helpers/run-driver';
import { processesMentioning } from '../helpers/processes';

const DRIVERS: DriverName[] = ['stanza', 'strophe', 'xmppjs'];


describe("client libraries against Prosody's own mod_websocket", () => {
  let prosody: ProsodyInstance;
  let args: DriverArgs;

  beforeAll(async () => {
    prosody = await startProsody();
    args = {
      url: prosody.websocketUrl,
      domain: prosody.domain,
      accounts: prosody.accounts,
      mechanism: 'PLAIN',
    };
  });

  afterAll(async () => {
    await prosody?.stop();
  });

  // One server for all three, in order: the first driver meets fresh accounts, the later ones an
  // existing mutual subscription, so both paths of the scenario stay exercised.
  it.each(DRIVERS)('%s: login with PLAIN, presence, roster, messages, close', async (name) => {
    const result = await runDriver(name, args);
    if (!result.ok) throw new Error(describeDriverResult(result));

    expectScenarioPassed(name, result.report!, prosody.accounts);
  });

  it('stanza: SCRAM-SHA-1 when asked for it', async () => {
    const result = await runDriver('stanza', { ...args, mechanism: 'SCRAM-SHA-1' });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expect(result.report!.mechanismsUsed).toEqual(['SCRAM-SHA-1', 'SCRAM-SHA-1']);
  });

  it('a wrong password fails at login, with a report', async () => {
    const [alice, bob] = prosody.accounts;
    const result = await runDriver('stanza', {
      ...args,
      accounts: [{ ...alice!, password: 'not-the-password' }, bob!],
      // The driver's own bound: generous, so a loaded machine still gets the login failure reported
      // rather than a kill (the outcome under test).
      timeoutMs: 30_000,
    });
    expect(result.ok).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(result.report).toMatchObject({ ok: false, library: 'stanza', stage: 'login' });
  });

  it('stop() is idempotent, leaves no Prosody process and removes its directory', async () => {
    const { dir } = prosody;
    expect(processesMentioning(dir).length).toBeGreaterThan(0);
    await Promise.all([prosody.stop(), prosody.stop()]);
    await prosody.stop();
    expect(processesMentioning(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
