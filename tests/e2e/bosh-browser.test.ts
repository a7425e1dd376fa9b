/**
 * strophe.js's BOSH in a real browser, cross-origin: Debian's Chromium (playwright-core) opens the
 * login page (tests/browser/strophe-login.html) from one origin and gives strophe the gateway's
 * http://…/http-bind on another, so every request is a CORS request (preflight, then POSTs that
 * must carry Access-Control-Allow-Origin). It logs in to a private Prosody with SASL PLAIN (stream
 * restart included), sends itself a chat message, receives it and terminates. A page from an origin
 * not in `allowedOrigins` gets no CORS answer, which strophe reports as a failed connection.
 */
import type { ProsodyInstance } from '../../tools/demo/prosody';
import type { Chromium } from '../helpers/chromium';
import type { RunningGateway } from '../helpers/gateway';
import { runStrophePage, startStropheRig, type PageResult, type PageServer, type StropheRig } from '../helpers/strophe-page';

describe('Chromium + strophe.js over BOSH, cross-origin with CORS', () => {
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let allowed: PageServer;
  let foreign: PageServer;
  let browser: Chromium | undefined;
  let rig: StropheRig | undefined;

  beforeAll(async () => {
    // No request interception: Playwright would answer the CORS preflights asserted below itself.
    rig = await startStropheRig({ interceptRequests: false });
    ({ prosody, gw, allowed, foreign, browser } = rig);
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
  }, 30_000);

  function runPage(origin: string): Promise<PageResult> {
    const account = prosody.accounts[0]!;
    // strophe picks BOSH for an http(s):// service URL.
    return runStrophePage(browser!.context, origin, { service: `http://127.0.0.1:${gw.port}/http-bind`, jid: account.jid, password: account.password });
  }

  async function count(result: string): Promise<number> {
    return (await gw.gateway.metrics.boshRequests.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  }

  test('logs in with SASL PLAIN over BOSH, messages itself, receives it and terminates', async () => {
    const account = prosody.accounts[0]!;
    const result = await runPage(allowed.origin);
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    // (The page's auth:… step records WebSocket frames; over BOSH strophe hands xmlOutput the <body/> wrapper.)
    expect(result.steps).toEqual(['CONNECTING', 'CONNECTED', 'DISCONNECTING:done', 'DISCONNECTED']);
    expect(result.jid).toMatch(new RegExp(`^${account.jid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.+`));
    expect(result.echoed?.from).toBe(result.jid);
    expect(await count('created')).toBe(1);
    // Cross-origin POSTs with Content-Type: text/xml are preflighted.
    expect(await count('preflight')).toBeGreaterThanOrEqual(1);
    const ended = (await gw.gateway.metrics.boshTerminations.get()).values.find((v) => v.labels.condition === 'none')?.value;
    expect(ended).toBe(1);
  });

  test('a page from an origin not in allowedOrigins gets no session', async () => {
    const before = await count('created');
    const result = await runPage(foreign.origin);
    expect(result.ok).toBe(false);
    expect(result.steps).not.toContain('CONNECTED');
    expect(await count('bad_origin')).toBeGreaterThanOrEqual(1);
    expect(await count('created')).toBe(before);
  });
});
