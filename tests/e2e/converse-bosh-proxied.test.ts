/**
 * Converse.js 14 in Debian's Chromium over BOSH (XEP-0124/XEP-0206), to a real Prosody, the two ways
 * a site deploys it:
 *
 * 1. Same origin through nginx: deploy/nginx/xmpp-websocket.conf as shipped (only ports, paths and
 *    the certificate substituted, the IPv6 listen line dropped) serves the Converse page and proxies
 *    `location = /http-bind` to the gateway through its `xmpp_bosh` upstream; Converse has
 *    `bosh_service_url: '/http-bind'` and no websocket_url.
 * 2. Cross-origin with CORS: the page comes from another origin (http://localhost:<port>, a second
 *    server in the same nginx) and `bosh_service_url` is the gateway's absolute
 *    http://127.0.0.1:<port>/http-bind, with `--allowed-origins` naming the page's origin only. Every
 *    POST is preflighted (text/xml is not a CORS-safelisted Content-Type).
 *
 * In both, alice and bob log in through the login form (SASL, then the XEP-0206 §5 restart), see each
 * other online, chat both ways and log out (strophe's type='terminate' body); checked in the pages,
 * on the wire (DevTools: no WebSocket, only BOSH POSTs to the expected URL) and in the gateway's log.
 * Screenshots are kept in test-output/e2e-converse-bosh-proxied/.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { launchChromium, testOutputDir, type Chromium } from '../helpers/chromium';
import { ConverseTab, makeConverseSite, deliver, startChat, writeConversePage } from '../helpers/converse';
import { httpPrelude, mainPrelude, startNginx, type RunningNginx } from '../helpers/nginx';
import { freePorts } from '../helpers/net';

jest.setTimeout(180_000);

const SHIPPED = join(__dirname, '..', '..', 'deploy', 'nginx', 'xmpp-websocket.conf');

/** Replaces `from`, which must occur exactly once, with `to`. */
function fill(text: string, from: string, to: string): string {
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`expected one ${from} in deploy/nginx/xmpp-websocket.conf, found ${count}`);
  return text.replace(from, to);
}

/** Polls (bounded) until the gateway logged `count` lines with this event. */
async function loggedEvents(gw: RunningGateway, event: string, count: number): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const lines = gw.logs.filter((l) => l.event === event);
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Converse.js with bosh_service_url through nginx and cross-origin', () => {
  let dir: string;
  let prosody: ProsodyInstance;
  let proxied: RunningGateway;
  let direct: RunningGateway;
  let nginx: RunningNginx;
  let browser: Chromium;
  let sitePort: number;
  let pagePort: number;
  const out = testOutputDir('e2e-converse-bosh-proxied');

  beforeAll(async () => {
    const folder = makeConverseSite('xmppgw-converse-bosh-');
    dir = folder.dir;
    const { html, cert, key } = folder;
    prosody = await startProsody({ sharedRoster: true });
    proxied = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort } });
    [sitePort, pagePort] = await freePorts(2);
    const pageOrigin = `http://localhost:${pagePort}`;
    direct = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort }, allowedOrigins: [pageOrigin] });

    let site = readFileSync(SHIPPED, 'utf8');
    site = fill(site, 'listen 443 ssl;', `listen 127.0.0.1:${sitePort} ssl;`);
    site = fill(site, 'listen [::]:443 ssl;', '');
    site = fill(site, '/etc/ssl/certs/chat.example.org.pem', cert);
    site = fill(site, '/etc/ssl/private/chat.example.org.key', key);
    site = fill(site, '/var/www/converse', html);
    site = fill(site, 'http://127.0.0.1:5280', `http://127.0.0.1:${proxied.port}`);
    site = fill(site, 'server 127.0.0.1:5280;', `server 127.0.0.1:${proxied.port};`);
    expect(site).toMatch(/location = \/http-bind \{\s*proxy_pass http:\/\/xmpp_bosh;/);
    // The other origin: the same static files over plain HTTP on another port.
    const other = `server {\n    listen 127.0.0.1:${pagePort};\n    location / { root ${html}; index index.html; }\n}`;
    nginx = await startNginx(dir, [mainPrelude(dir), 'http {', httpPrelude(dir), site, other, '}'].join('\n'), [sitePort, pagePort]);

    const common = { view_mode: 'fullscreen', authentication: 'login', assets_path: '/dist/', discover_connection_methods: false, allow_logout: true };
    writeConversePage(html, 'index.html', 'same-origin.js', { ...common, bosh_service_url: '/http-bind' });
    writeConversePage(html, 'cors.html', 'cors.js', { ...common, bosh_service_url: `http://127.0.0.1:${direct.port}/http-bind` });

    // No Playwright interception: it would answer the CORS preflights itself (see launchChromium).
    browser = await launchChromium({ ignoreHTTPSErrors: true, interceptRequests: false });
  }, 120_000);

  afterAll(async () => {
    const left = await browser?.close();
    await nginx?.stop();
    await proxied?.close();
    await direct?.close();
    await prosody?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(left ?? []).toEqual([]);
  }, 30_000);

  /** alice and bob open `pageUrl`, log in, see each other online, chat both ways, log out. */
  async function chatAndLogOut(pageUrl: string, boshUrl: string, shots: string): Promise<[ConverseTab, ConverseTab]> {
    const [alice, bob] = prosody.accounts as [ProsodyInstance['accounts'][0], ProsodyInstance['accounts'][0]];
    const a = await ConverseTab.open(browser.context, pageUrl);
    const b = await ConverseTab.open(browser.context, pageUrl);
    try {
      await startChat(a, alice, b, bob);
      const toBob = `to bob over BOSH (${shots}) ${Date.now()} <&> ünïcode`;
      await deliver(a, alice, b, bob, toBob);
      const toAlice = `to alice over BOSH (${shots}) ${Date.now()}`;
      await deliver(b, bob, a, alice, toAlice);
      await a.page.screenshot({ path: join(out, `${shots}-alice.png`) });
      await b.page.screenshot({ path: join(out, `${shots}-bob.png`) });
      process.stdout.write(`screenshots: ${out}\n`);
      await a.logout();
      await b.logout();

      for (const tab of [a, b]) {
        expect(tab.sockets).toEqual([]);
        expect(tab.handshakes).toEqual([]);
        const bosh = tab.boshRequests().filter((r) => r.method !== 'OPTIONS');
        expect(bosh.length).toBeGreaterThan(3);
        expect(new Set(bosh.map((r) => `${r.method} ${r.url}`))).toEqual(new Set([`POST ${boshUrl}`]));
        const posts = tab.requests.filter((r) => r.method === 'POST' && r.url === boshUrl);
        expect(posts.some((p) => /xmpp:restart=["']true["']/.test(p.body ?? ''))).toBe(true);
        expect(posts.some((p) => /type=["']terminate["']/.test(p.body ?? ''))).toBe(true);
        expect(tab.failedRequests.filter((f) => f.includes('/http-bind'))).toEqual([]);
        // Without interception, Chromium's resolver rule is what keeps the page on loopback
        // (Converse's footer asks conversejs.org for logos): every such request failed.
        const elsewhere = tab.requests.filter((r) => !['127.0.0.1', 'localhost'].includes(new URL(r.url).hostname) && !r.url.startsWith('data:'));
        for (const r of elsewhere) expect(tab.failedRequests).toContainEqual(expect.stringContaining(`failed ${r.url}`));
      }
      return [a, b];
    } finally {
      await a.page.close();
      await b.page.close();
    }
  }

  test('same origin through the shipped nginx config: /http-bind proxied, no WebSocket, login to terminate', async () => {
    const site = `https://localhost:${sitePort}`;
    const [a, b] = await chatAndLogOut(`${site}/`, `${site}/http-bind`, 'nginx-same-origin');
    // Same origin: no CORS preflight at all.
    expect([...a.preflights, ...b.preflights]).toEqual([]);
    const created = await loggedEvents(proxied, 'bosh_session_created', 2);
    const ended = await loggedEvents(proxied, 'bosh_session_ended', 2);
    expect(created).toHaveLength(2);
    expect(ended.map((l) => l.condition)).toEqual(['none', 'none']);
    expect(new Set(ended.map((l) => l.sid))).toEqual(new Set(created.map((l) => l.sid)));
    expect(proxied.logs.filter((l) => l.event === 'origin_refused')).toEqual([]);
    expect(direct.logs.filter((l) => String(l.event).startsWith('bosh_'))).toEqual([]);
  });

  test('cross-origin with CORS: preflight answered with Access-Control-Allow-Origin, login to terminate', async () => {
    const boshUrl = `http://127.0.0.1:${direct.port}/http-bind`;
    const pageOrigin = `http://localhost:${pagePort}`;
    const before = proxied.logs.filter((l) => String(l.event).startsWith('bosh_')).length;
    const [a, b] = await chatAndLogOut(`${pageOrigin}/cors.html`, boshUrl, 'cors');
    // The first POST is preflighted; the answer's Access-Control-Max-Age lets Chromium reuse it
    // (the second tab usually sends none). Each one the browser saw reached the gateway.
    const seen = [...a.preflights, ...b.preflights];
    expect(seen.length).toBeGreaterThan(0);
    for (const p of seen) expect(p).toEqual({ url: boshUrl, status: 204, allowOrigin: pageOrigin });
    const answered = (await direct.gateway.metrics.boshRequests.get()).values.find((v) => v.labels.result === 'preflight')?.value;
    expect(answered).toBe(seen.length);
    const created = await loggedEvents(direct, 'bosh_session_created', 2);
    const ended = await loggedEvents(direct, 'bosh_session_ended', 2);
    expect(created).toHaveLength(2);
    expect(ended.map((l) => l.condition)).toEqual(['none', 'none']);
    expect(new Set(ended.map((l) => l.sid))).toEqual(new Set(created.map((l) => l.sid)));
    expect(proxied.logs.filter((l) => String(l.event).startsWith('bosh_'))).toHaveLength(before);
  });
});
