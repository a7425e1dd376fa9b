/**
 * Load through the gateway to a real Prosody: 200 concurrent RFC 7395 sessions, paired up, each
 * sending 20 chat messages to its partner's full JID. Every message must arrive exactly once, intact
 * (multi-byte text and XML specials decode to the very string sent), in order, at the right session;
 * then every session closes with `<close/>`, gets `<close/>` back, and the gateway ends with no
 * sessions.
 *
 * Accounts: a second Prosody VirtualHost with SASL ANONYMOUS (startProsody's `anonymousHost`), so
 * each login gets a fresh JID and nothing has to be registered. Prosody's mod_limits (c2s read
 * throttling) is not in the private instance's modules_enabled, so Prosody does not slow the flood.
 */
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { NS_CLIENT, escapeAttr, escapeText, is, login, waitUntil, type RawSession, type XmlElement } from '../helpers/raw-xmpp';

const SESSIONS = 200;
const MESSAGES_PER_SESSION = 20;
/** Logins run this many at a time, so 2 cores are not asked for 200 SASL exchanges at once. */
const LOGIN_BATCH = 25;
const ANON_HOST = 'anon.localhost';
const TEST_TIMEOUT_MS = 420_000;
/** Bounds for the phases: they bound a failure, not the speed (targets live in bench/), so they are
 * wide enough for a loaded 2-core machine; TEST_TIMEOUT_MS bounds the whole. */
const LOGIN_STEP_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 180_000;
const CLOSE_TIMEOUT_MS = 60_000;

/** Body of message `k` from session `i`: unique, multi-byte (2-, 3- and 4-byte UTF-8) and full of XML specials. */
function body(i: number, k: number): string {
  return `#${i}.${k} héllo wörld ✓ 🌍🎉 𝄞 <&>"' ]]> &amp; <!-- x --> <b>not markup</b>`;
}
const BARRIER_BODY = 'barrier';

/** The `to`-partner of session `i`: 0↔1, 2↔3, ... */
const partnerOf = (i: number): number => i ^ 1;

describe('load: 200 concurrent sessions through the gateway to Prosody', () => {
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  const sessions: RawSession[] = [];

  beforeAll(async () => {
    prosody = await startProsody({ accounts: [], anonymousHost: ANON_HOST });
    gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort } });
  });
  afterAll(async () => {
    for (const s of sessions) if (!s.isClosed) s.terminate();
    await gw?.close();
    await prosody?.stop();
  });

  it(
    `${SESSIONS} sessions × ${MESSAGES_PER_SESSION} messages: each delivered exactly once, intact, in order; all close cleanly`,
    async () => {
      // Ramp up: log in a batch at a time.
      for (let start = 0; start < SESSIONS; start += LOGIN_BATCH) {
        const batch = await Promise.allSettled(
          Array.from({ length: Math.min(LOGIN_BATCH, SESSIONS - start) }, () =>
            login(gw.url, { domain: ANON_HOST, mechanism: 'ANONYMOUS', stepTimeoutMs: LOGIN_STEP_TIMEOUT_MS }),
          ),
        );
        for (const r of batch) if (r.status === 'fulfilled') sessions.push(r.value);
        const failed = batch.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed.length > 0) throw new Error(`${failed.length} login(s) in the batch from #${start} failed; first: ${String(failed[0]!.reason)}`);
      }
      expect(sessions).toHaveLength(SESSIONS);
      const jids = sessions.map((s) => s.jid);
      expect(new Set(jids).size).toBe(SESSIONS);
      for (const jid of jids) expect(jid.split('/')[0]!.endsWith(`@${ANON_HOST}`)).toBe(true);
      expect(gw.gateway.sessionCount).toBe(SESSIONS);

      // Everything each session saw up to now belongs to its login.
      const loginElements = sessions.map((s) => s.received.length);

      // The flood: every session sends all its messages at once.
      const sendMessage = (i: number, id: string, text: string): void =>
        sessions[i]!.send(
          `<message xmlns="${NS_CLIENT}" type="chat" to="${escapeAttr(jids[partnerOf(i)]!)}" id="${id}"><body>${escapeText(text)}</body></message>`,
        );
      for (let k = 0; k < MESSAGES_PER_SESSION; k++) {
        for (let i = 0; i < SESSIONS; i++) sendMessage(i, `m-${i}-${k}`, body(i, k));
      }
      const fromPartner = (i: number) => (el: XmlElement): boolean => is.message(el) && el.attrs.from === jids[partnerOf(i)];
      const deliveryDeadline = Date.now() + DELIVERY_TIMEOUT_MS;
      await Promise.all(
        sessions.map((s, i) =>
          s.waitForCount(fromPartner(i), MESSAGES_PER_SESSION, `messages from the partner of #${i}`, Math.max(1, deliveryDeadline - Date.now())),
        ),
      );

      // A duplicate would travel behind its original on the partner's one upstream stream, so once
      // the partner's barrier message is in, anything duplicated has arrived too.
      for (let i = 0; i < SESSIONS; i++) sendMessage(i, `barrier-${i}`, BARRIER_BODY);
      await Promise.all(
        sessions.map((s, i) =>
          s.waitFor((el) => fromPartner(i)(el) && el.attrs.id === `barrier-${partnerOf(i)}`, `the barrier from the partner of #${i}`, Math.max(1, deliveryDeadline - Date.now())),
        ),
      );

      // Per session: after login, exactly the partner's messages, in order, each once and intact, then the barrier.
      const problems: string[] = [];
      sessions.forEach((s, i) => {
        const p = partnerOf(i);
        const bad = s.received.find((r) => r.parseError !== null);
        if (bad !== undefined) problems.push(`#${i}: message ${bad.index} did not parse: ${bad.parseError}`);
        const got = s.received.slice(loginElements[i]).map((r) => r.el);
        const expected = [
          ...Array.from({ length: MESSAGES_PER_SESSION }, (_, k) => ({ id: `m-${p}-${k}`, body: body(p, k) })),
          { id: `barrier-${p}`, body: BARRIER_BODY },
        ];
        const actual = got.map((el) => ({
          id: el?.attrs.id,
          body: el?.getChildText('body'),
          ok: el !== null && is.message(el) && el.attrs.type === 'chat' && el.attrs.from === jids[p] && el.attrs.to === jids[i],
        }));
        const j = expected.findIndex((e, n) => {
          const a = actual[n];
          return a === undefined || !a.ok || a.id !== e.id || a.body !== e.body;
        });
        if (j >= 0 || actual.length !== expected.length) {
          const at = j >= 0 ? j : expected.length;
          problems.push(
            `#${i}: ${actual.length} message(s) after login, ${expected.length} expected; first difference at ${at}: ` +
              `expected ${JSON.stringify(expected[at] ?? null)}, got ${JSON.stringify(actual[at] ?? null)} (${s.received[loginElements[i]! + at]?.raw.slice(0, 300) ?? 'nothing'})`,
          );
        }
      });
      expect(problems).toEqual([]);

      // Everyone logs out at once: <close/> answered by <close/>, then a normal WebSocket close.
      const codes = await Promise.all(sessions.map((s) => s.close(CLOSE_TIMEOUT_MS)));
      expect(codes.filter((c) => c !== 1000)).toEqual([]);
      await waitUntil(() => gw.gateway.sessionCount === 0, 'the gateway has no sessions left', CLOSE_TIMEOUT_MS);
    },
    TEST_TIMEOUT_MS,
  );
});
