/**
 * Converse.js 14 over BOSH: the gateway serves the chat page (`--web-client on`) with
 * `bosh_service_url: '/http-bind'` and no `websocket_url` (`--web-client-settings`), so Converse
 * (strophe underneath) speaks XEP-0206 to the same origin. alice and bob, on a real Prosody with a
 * shared roster, log in from two Chromium tabs, see each other online and chat both ways; on the
 * wire there is no WebSocket, only POSTs to /http-bind.
 */
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { launchChromium, type Chromium } from '../helpers/chromium';
import { ConverseTab, deliver, startChat } from '../helpers/converse';

jest.setTimeout(120_000);

describe('Converse.js with bosh_service_url, same origin (the gateway-served page)', () => {
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let browser: Chromium;

  beforeAll(async () => {
    prosody = await startProsody({ sharedRoster: true });
    gw = await startGateway({
      upstream: { host: '127.0.0.1', port: prosody.c2sPort },
      webClient: true,
      webClientDomain: prosody.domain,
      webClientSettings: { bosh_service_url: '/http-bind', websocket_url: null },
    });
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    const left = await browser?.close();
    await gw?.close();
    await prosody?.stop();
    expect(left ?? []).toEqual([]);
  }, 30_000);

  test('alice and bob log in over BOSH, see each other online and chat both ways', async () => {
    const [alice, bob] = prosody.accounts as [ProsodyInstance['accounts'][0], ProsodyInstance['accounts'][0]];
    const root = `http://127.0.0.1:${gw.port}/`;
    const a = await ConverseTab.open(browser.context, root);
    const b = await ConverseTab.open(browser.context, root);
    try {
      await startChat(a, alice, b, bob);
      const toBob = `hello bob over BOSH ${Date.now()} — ünïcode ✓`;
      await deliver(a, alice, b, bob, toBob);
      const toAlice = `hi alice, bob here over BOSH ${Date.now()}`;
      await deliver(b, bob, a, alice, toAlice);
      for (const tab of [a, b]) {
        expect(tab.sockets).toEqual([]);
        const posts = tab.requests.filter((r) => r.method === 'POST' && r.url === `${root}http-bind`);
        expect(posts.length).toBeGreaterThan(3);
        expect(posts.some((p) => /xmpp:restart=["']true["']/.test(p.body ?? ''))).toBe(true);
        expect(tab.failedRequests.filter((f) => f.includes('/http-bind'))).toEqual([]);
      }
      const created = (await gw.gateway.metrics.boshRequests.get()).values.find((v) => v.labels.result === 'created')?.value;
      expect(created).toBe(2);
    } finally {
      await a.page.close();
      await b.page.close();
    }
  });
});
