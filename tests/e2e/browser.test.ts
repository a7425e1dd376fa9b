/**
 * A real browser logs in through the gateway: Debian's Chromium, driven by playwright-core, opens a
 * page (tests/browser/strophe-login.html) that loads strophe.js's browser build, connects to the
 * gateway's ws:// URL, logs in to a private Prosody with SASL PLAIN, sends a chat message to its own
 * full JID, receives it and disconnects. A page from an origin not in `allowedOrigins` is refused
 * (HTTP 403 on the upgrade), which strophe reports as CONNFAIL.
 */
import type { ProsodyInstance } from '../../tools/demo/prosody';
import type { Chromium } from '../helpers/chromium';
import type { RunningGateway } from '../helpers/gateway';
import { runStrophePage, startStropheRig, type PageResult, type PageServer, type StropheRig } from '../helpers/strophe-page';

describe('a real browser (Chromium + strophe.js) through the gateway', () => {
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let allowed: PageServer;
  let foreign: PageServer;
  let browser: Chromium | undefined;
  let rig: StropheRig | undefined;

  beforeAll(async () => {
    rig = await startStropheRig();
    ({ prosody, gw, allowed, foreign, browser } = rig);
  }, 60_000);

  afterAll(async () => {
    // Every Chromium process of the profile is gone after close (none had to be killed).
    const left = rig ? await rig.close() : [];
    expect(left).toEqual([]);
  }, 30_000);

  function runPage(origin: string): Promise<PageResult> {
    const account = prosody.accounts[0]!;
    return runStrophePage(browser!.context, origin, { service: gw.url, jid: account.jid, password: account.password });
  }

  test('logs in with SASL PLAIN, messages itself, receives it and disconnects', async () => {
    const account = prosody.accounts[0]!;
    const result = await runPage(allowed.origin);
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.steps).toEqual(['CONNECTING', 'auth:PLAIN', 'CONNECTED', 'DISCONNECTING:done', 'DISCONNECTED']);
    expect(result.jid).toMatch(new RegExp(`^${account.jid.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.+`));
    expect(result.echoed?.from).toBe(result.jid);
    expect(result.echoed?.body).toMatch(/^hello from chromium /);
    expect(gw.logs.some((l) => l.event === 'handshake_rejected')).toBe(false);
  });

  test('a page from an origin not in allowedOrigins is refused', async () => {
    const result = await runPage(foreign.origin);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^CONNFAIL/);
    expect(result.steps).not.toContain('CONNECTED');
    expect(gw.logs).toContainEqual(expect.objectContaining({ event: 'handshake_rejected', result: 'bad_origin', status: 403 }));
  });
});
