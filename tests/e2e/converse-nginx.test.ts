/**
 * Converse.js 14 in Debian's Chromium, through nginx, to the gateway and a real Prosody.
 *
 * 1. The websocket nginx block of the Converse.js guide ("Reverse-proxy for a websocket connection",
 *    read from the pinned converse.js package's own copy of the guide) AS PRINTED, with only its
 *    placeholders filled in: the port (a random one, not 443 — so `proxy_set_header Host $host`
 *    drops it, which is what broke same-origin before), certificate paths, the Converse folder and
 *    the gateway's port. The guide's `listen 443` line lacks its `;`; the filled-in line has one.
 *    Two users log in through the login form, see each other online, chat both ways; checked in
 *    both pages and on the wire (one element per frame, subprotocol "xmpp", no BOSH).
 * 2. deploy/nginx/web-client.conf: the gateway's own page (--web-client on) behind TLS gets the
 *    wss:// URL the browser used, and a Converse page with `discover_connection_methods` and no
 *    websocket_url finds the endpoint through XEP-0156 host-meta and logs in.
 *
 * Screenshots are kept in test-output/e2e-converse-nginx/.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { launchChromium, testOutputDir, type Chromium } from '../helpers/chromium';
import { ConverseTab, makeConverseSite, deliver, framesNotOneElement, framesWith, startChat, writeConversePage } from '../helpers/converse';
import { httpPrelude, mainPrelude, startNginx, type RunningNginx } from '../helpers/nginx';
import { freePorts } from '../helpers/net';

jest.setTimeout(150_000);

const GUIDE = join(__dirname, '..', '..', 'node_modules', 'converse.js', 'docs', 'src', 'content', 'docs', 'setup.md');

/** The first ```nginx block after the guide's "Reverse-proxy for a websocket connection" heading. */
export function guideWebsocketBlock(markdown: string): string {
  const section = markdown.indexOf('Reverse-proxy for a websocket connection');
  if (section < 0) throw new Error('the Converse.js guide has no "Reverse-proxy for a websocket connection" section');
  const start = markdown.indexOf('```nginx\n', section);
  const end = markdown.indexOf('```', start + 9);
  return markdown.slice(start + 9, end);
}

/** Replaces `from` (which must occur exactly `times` times) with `to`. */
function fill(text: string, from: string | RegExp, to: string, times = 1): string {
  const count = typeof from === 'string' ? text.split(from).length - 1 : (text.match(new RegExp(from.source, `${from.flags.replace('g', '')}g`)) ?? []).length;
  if (count !== times) throw new Error(`expected ${times} × ${String(from)} in the nginx block, found ${count}`);
  return typeof from === 'string' ? text.split(from).join(to) : text.replace(new RegExp(from.source, `${from.flags.replace('g', '')}g`), to);
}

describe('Converse.js through nginx', () => {
  let dir: string;
  let html: string;
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let nginx: RunningNginx;
  let browser: Chromium;
  let guidePort: number;
  let webPort: number;
  const out = testOutputDir('e2e-converse-nginx');

  beforeAll(async () => {
    // nginx's default root is <prefix>/html; the guide's `location = /` + `index` redirects
    // internally to /index.html, which no location of the block matches, so it is served from
    // there: the Converse folder IS <prefix>/html here (the README explains).
    const folder = makeConverseSite('xmppgw-converse-nginx-');
    ({ dir, html } = folder);
    const { cert, key } = folder;
    prosody = await startProsody({ sharedRoster: true });
    gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort }, webClient: true, webClientDomain: prosody.domain });
    expect(gw.gateway.config.allowedOrigins).toEqual(['same-origin']);
    [guidePort, webPort] = await freePorts(2);

    let guide = guideWebsocketBlock(readFileSync(GUIDE, 'utf8'));
    guide = fill(guide, /^(\s*)listen\s+443\s*$/m, `$1listen       127.0.0.1:${guidePort};`);
    guide = fill(guide, '/path/to/fullchain.pem', cert);
    guide = fill(guide, '/path/to/privkey.pem', key);
    guide = fill(guide, '/path/to/converse.js/', `${html}/`, 2);
    guide = fill(guide, 'http://127.0.0.1:5280', `http://127.0.0.1:${gw.port}`);
    expect(guide).toContain('proxy_set_header Host $host;');
    let shipped = readFileSync(join(__dirname, '..', '..', 'deploy', 'nginx', 'web-client.conf'), 'utf8');
    shipped = fill(shipped, 'listen 443 ssl;', `listen 127.0.0.1:${webPort} ssl;`);
    shipped = fill(shipped, '/etc/ssl/certs/chat.example.org.pem', cert);
    shipped = fill(shipped, '/etc/ssl/private/chat.example.org.key', key);
    shipped = fill(shipped, 'http://127.0.0.1:5280', `http://127.0.0.1:${gw.port}`, 2);
    // One nginx: the guide's http block, with this run's temp paths and the shipped server added inside it.
    const config = [mainPrelude(dir), fill(guide, /^http \{$/m, `http {\n${httpPrelude(dir)}\n${shipped}\n`)].join('\n');
    nginx = await startNginx(dir, config, [guidePort, webPort]);

    const common = { view_mode: 'fullscreen', authentication: 'login', auto_reconnect: true, assets_path: '/dist/' };
    // The guide's page: websocket_url as the guide says, wss://<site>/xmpp-websocket.
    writeConversePage(html, 'index.html', 'converse-settings.js', { ...common, websocket_url: `wss://localhost:${guidePort}/xmpp-websocket`, discover_connection_methods: false });
    // A page that knows only the domain: XEP-0156 finds the endpoint.
    writeConversePage(html, 'discover.html', 'discover-settings.js', { ...common, discover_connection_methods: true });

    browser = await launchChromium({ ignoreHTTPSErrors: true });
  }, 120_000);

  afterAll(async () => {
    const left = await browser?.close();
    await nginx?.stop();
    await gw?.close();
    await prosody?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(left ?? []).toEqual([]);
  }, 30_000);

  test("the guide's block as printed: two users log in, see each other online and chat both ways over wss://", async () => {
    const [alice, bob] = prosody.accounts as [ProsodyInstance['accounts'][0], ProsodyInstance['accounts'][0]];
    const site = `https://localhost:${guidePort}`;
    const wsUrl = `wss://localhost:${guidePort}/xmpp-websocket`;
    const a = await ConverseTab.open(browser.context, `${site}/`);
    const b = await ConverseTab.open(browser.context, `${site}/`);
    try {
      await startChat(a, alice, b, bob);
      const toBob = `through nginx to bob ${Date.now()} <&> “quotes”`;
      await deliver(a, alice, b, bob, toBob);
      const toAlice = `and back to alice ${Date.now()}`;
      await deliver(b, bob, a, alice, toAlice);
      await a.page.screenshot({ path: join(out, 'guide-alice.png') });
      await b.page.screenshot({ path: join(out, 'guide-bob.png') });
      process.stdout.write(`screenshots: ${out}\n`);

      for (const tab of [a, b]) {
        expect(tab.sockets.map((s) => s.url)).toEqual([wsUrl]);
        expect(tab.handshakes).toEqual([{ url: wsUrl, status: 101, protocol: 'xmpp' }]);
        expect(tab.boshRequests()).toEqual([]);
        expect(framesNotOneElement(tab.sockets[0]!.sent)).toEqual([]);
        expect(framesNotOneElement(tab.sockets[0]!.received)).toEqual([]);
      }
      const escaped = toBob.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;');
      expect(framesWith(a.sockets[0]!.sent, escaped).filter((f) => f.startsWith('<message'))).toHaveLength(1);
      expect(framesWith(b.sockets[0]!.received, escaped).filter((f) => f.startsWith('<message'))).toHaveLength(1);
      expect(framesWith(b.sockets[0]!.sent, toAlice).filter((f) => f.startsWith('<message'))).toHaveLength(1);
      expect(framesWith(a.sockets[0]!.received, toAlice).filter((f) => f.startsWith('<message'))).toHaveLength(1);
      // The gateway saw Host: localhost (no port) and the page's Origin https://localhost:<port>: same host name.
      expect(gw.logs.filter((l) => l.event === 'origin_refused')).toEqual([]);
    } finally {
      await a.page.close();
      await b.page.close();
    }
  });

  test('deploy/nginx/web-client.conf: the served page gets the wss:// URL the browser used', async () => {
    const [, bob] = prosody.accounts as [ProsodyInstance['accounts'][0], ProsodyInstance['accounts'][0]];
    const wsUrl = `wss://localhost:${webPort}/xmpp-websocket`;
    const tab = await ConverseTab.open(browser.context, `https://localhost:${webPort}/`);
    try {
      await tab.login(bob.username, bob.password);
      expect(tab.handshakes).toEqual([{ url: wsUrl, status: 101, protocol: 'xmpp' }]);
      expect(tab.cspViolations().filter((l) => !/Loading the image 'https:\/\/conversejs\.org\//.test(l))).toEqual([]);
      await tab.page.screenshot({ path: join(out, 'served-page-bob.png') });
    } finally {
      await tab.page.close();
    }
  });

  test('XEP-0156: a Converse page with discover_connection_methods and no websocket_url finds the endpoint and logs in', async () => {
    const [alice] = prosody.accounts as [ProsodyInstance['accounts'][0]];
    // Converse asks https://<domain>/.well-known/host-meta, i.e. port 443 of "localhost"; the tests
    // may not bind 443, so the browser's request for exactly that URL is sent to the nginx port instead
    // (the request, its Origin and the answer are otherwise untouched).
    const asked: string[] = [];
    await browser.context.route('https://localhost/.well-known/host-meta', async (route) => {
      asked.push(route.request().url());
      await route.continue({ url: `https://localhost:${webPort}/.well-known/host-meta` });
    });
    const tab = await ConverseTab.open(browser.context, `https://localhost:${guidePort}/discover.html`);
    try {
      await tab.login(alice.jid, alice.password);
      expect(asked.length).toBeGreaterThan(0);
      expect(new Set(asked)).toEqual(new Set(['https://localhost/.well-known/host-meta']));
      // Converse may open the socket more than once while it discovers (each attempt is a full,
      // accepted handshake); every one goes to the discovered endpoint.
      expect(tab.handshakes.length).toBeGreaterThan(0);
      for (const h of tab.handshakes) expect(h).toEqual({ url: `wss://localhost:${webPort}/xmpp-websocket`, status: 101, protocol: 'xmpp' });
      expect(tab.boshRequests()).toEqual([]);
    } finally {
      await tab.page.close();
      await browser.context.unroute('https://localhost/.well-known/host-meta');
    }
  });
});
