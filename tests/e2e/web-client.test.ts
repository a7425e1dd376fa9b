/**
 * `--web-client on` without any proxy: the gateway serves Converse.js 14 (from the pinned npm
 * package) at `/`, Debian's Chromium opens it in two tabs, alice and bob (a real Prosody 0.12, one
 * shared roster group) log in through the login form, see each other online and chat both ways.
 * Checked in both pages and on the wire: one element per WebSocket frame, subprotocol "xmpp", no
 * BOSH. Also: the HTTP side of the page (CSP, caching, HEAD, 404, no path traversal), XEP-0156
 * host-meta with CORS per --allowed-origins, and a page on another Origin refused with 403 and a
 * log line naming that Origin. Screenshots go to test-output/e2e-web-client/.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { findConversePackage } from '../../src/http/web-client';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { launchChromium, testOutputDir, type Chromium } from '../helpers/chromium';
import { ConverseTab, deliver, framesNotOneElement, framesWith, startChat } from '../helpers/converse';

jest.setTimeout(120_000);

/** A raw HTTP request (the path is sent exactly as given, `..` and all). */
function request(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the served Converse.js page (--web-client on), no proxy', () => {
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let browser: Chromium;
  const out = testOutputDir('e2e-web-client');
  const version = findConversePackage().version;

  beforeAll(async () => {
    prosody = await startProsody({ sharedRoster: true });
    gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort }, webClient: true, webClientDomain: prosody.domain });
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    const left = await browser?.close();
    await gw?.close();
    await prosody?.stop();
    expect(left ?? []).toEqual([]);
  }, 30_000);

  test('the page, its settings and assets: strict CSP, cache headers, HEAD, 404s, no traversal', async () => {
    const page = await request(gw.port, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).toContain(`connect-src 'self' ${gw.url}`);
    // No inline script: every <script> has a src.
    expect(page.body.match(/<script[^>]*>/g)?.every((t) => /\ssrc="/.test(t))).toBe(true);
    const head = await request(gw.port, 'HEAD', '/');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(page.headers['content-length']);

    const settings = await request(gw.port, 'GET', '/web-client/settings.json');
    expect(JSON.parse(settings.body)).toMatchObject({ websocket_url: gw.url, default_domain: prosody.domain });
    expect(settings.headers['cache-control']).toBe('no-store');
    // Behind a trusted proxy (loopback is trusted by default) the URL is the one the client used.
    const proxied = await request(gw.port, 'GET', '/web-client/settings.json', { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'chat.example.org:8443' });
    expect(JSON.parse(proxied.body).websocket_url).toBe('wss://chat.example.org:8443/xmpp-websocket');

    const asset = await request(gw.port, 'HEAD', `/converse/${version}/converse.min.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    for (const path of [
      `/converse/${version}/../package.json`, `/converse/${version}/%2e%2e/package.json`, `/converse/${version}/..%2f..%2fpackage.json`,
      `/converse/${version}/chunkjs/../../package.json`, `/converse/${version}/..%5c..%5cpackage.json`, `/converse/0.0.1/converse.min.js`,
      `/converse/${version}/missing.js`, `/converse/${version}/images`, '/nope', '/web-client/other.js', '/etc/passwd',
    ]) {
      const r = await request(gw.port, 'GET', path);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
    }
    expect((await request(gw.port, 'POST', '/')).status).toBe(405);
  });

  test('XEP-0156 host-meta (XRD and JRD) advertises the WebSocket URL, CORS per --allowed-origins', async () => {
    const xrd = await request(gw.port, 'GET', '/.well-known/host-meta', { Origin: `http://127.0.0.1:${gw.port}` });
    expect(xrd.status).toBe(200);
    expect(xrd.headers['content-type']).toBe('application/xrd+xml; charset=utf-8');
    expect(xrd.body).toContain(`<Link rel='urn:xmpp:alt-connections:websocket' href='${gw.url}'/>`);
    expect(xrd.headers['access-control-allow-origin']).toBe(`http://127.0.0.1:${gw.port}`);
    const jrd = await request(gw.port, 'GET', '/.well-known/host-meta.json', { Origin: 'https://elsewhere.example' });
    // BOSH is on by default: XEP-0156 lists it after the WebSocket.
    expect(JSON.parse(jrd.body)).toEqual({ links: [{ rel: 'urn:xmpp:alt-connections:websocket', href: gw.url }, { rel: 'urn:xmpp:alt-connections:xbosh', href: `http://127.0.0.1:${gw.port}/http-bind` }] });
    expect(jrd.headers['access-control-allow-origin']).toBeUndefined();
    // A CORS preflight from an allowed page gets the methods; from another site, no allowance.
    const preflight = await request(gw.port, 'OPTIONS', '/.well-known/host-meta', { Origin: `http://127.0.0.1:${gw.port}`, 'Access-Control-Request-Method': 'GET' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': `http://127.0.0.1:${gw.port}`, 'access-control-allow-methods': 'GET, HEAD' });
    const foreignPreflight = await request(gw.port, 'OPTIONS', '/.well-known/host-meta', { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'GET' });
    expect(foreignPreflight.headers['access-control-allow-origin']).toBeUndefined();
    expect((await request(gw.port, 'DELETE', '/.well-known/host-meta')).status).toBe(405);
    const headOnly = await request(gw.port, 'HEAD', '/.well-known/host-meta.json');
    expect(headOnly.status).toBe(200);
    expect(headOnly.body).toBe('');
  });

  test('alice and bob log in from two tabs, see each other online and chat both ways', async () => {
    const [alice, bob] = prosody.accounts as [ProsodyInstance['accounts'][0], ProsodyInstance['accounts'][0]];
    const root = `http://127.0.0.1:${gw.port}/`;
    const a = await ConverseTab.open(browser.context, root);
    const b = await ConverseTab.open(browser.context, root);
    try {
      await startChat(a, { ...alice, login: alice.username }, b, bob); // default_domain: the bare name is enough
      const toBob = `hello bob from alice ${Date.now()} — ünïcode ✓`;
      await a.send(bob.jid, toBob);
      await b.waitForMessage(alice.jid, toBob);
      await a.waitForMessage(bob.jid, toBob);
      const toAlice = `hi alice, bob here ${Date.now()}`;
      await deliver(b, bob, a, alice, toAlice);
      await a.page.screenshot({ path: join(out, 'alice.png') });
      await b.page.screenshot({ path: join(out, 'bob.png') });
      process.stdout.write(`screenshots: ${out}\n`);

      for (const tab of [a, b]) {
        expect(tab.sockets.map((s) => s.url)).toEqual([gw.url]);
        expect(tab.handshakes).toEqual([{ url: gw.url, status: 101, protocol: 'xmpp' }]);
        expect(tab.boshRequests()).toEqual([]);
        const [ws] = tab.sockets;
        expect(framesNotOneElement(ws!.sent)).toEqual([]);
        expect(framesNotOneElement(ws!.received)).toEqual([]);
        // Only the Converse footer's sponsor logos (conversejs.org) are blocked: the page loads nothing third-party.
        expect(tab.cspViolations().filter((l) => !/Loading the image 'https:\/\/conversejs\.org\//.test(l))).toEqual([]);
      }
      expect(framesWith(a.sockets[0]!.sent, toBob).some((f) => f.startsWith('<message') && f.includes(`to="${bob.jid}"`))).toBe(true);
      expect(framesWith(b.sockets[0]!.received, toBob).some((f) => f.startsWith('<message'))).toBe(true);
      expect(framesWith(b.sockets[0]!.sent, toAlice).some((f) => f.startsWith('<message'))).toBe(true);
      expect(framesWith(a.sockets[0]!.received, toAlice).some((f) => f.startsWith('<message'))).toBe(true);
    } finally {
      await a.page.close();
      await b.page.close();
    }
  });

  test('a page on another Origin is refused with 403, and the log names that Origin', async () => {
    // Served from http://localhost:<port>: another host name than the 127.0.0.1 the gateway is asked for.
    const foreign = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(
        `<!DOCTYPE html><script>const ws = new WebSocket(${JSON.stringify(gw.url)}, 'xmpp');
        ws.onopen = () => { document.title = 'opened'; }; ws.onerror = () => { document.title = 'refused'; };</script>`,
      );
    });
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
    const origin = `http://localhost:${(foreign.address() as AddressInfo).port}`;
    try {
      const tab = await ConverseTab.open(browser.context, `${origin}/`);
      await tab.page.waitForFunction(() => (globalThis as unknown as { document: { title: string } }).document.title !== '', undefined, { timeout: 20_000 });
      expect(await tab.page.title()).toBe('refused');
      // Chromium reports the refused handshake's status on the console.
      expect(tab.console.some((l) => l.includes(gw.url) && /Unexpected response code: 403/.test(l))).toBe(true);
      expect(tab.handshakes.map((h) => h.status)).not.toContain(101);
      await tab.page.close();
      const line = gw.logs.find((l) => l.event === 'origin_refused' && l.origin === origin);
      expect(line).toMatchObject({ level: 40, reason: 'other_host', compared_host: '127.0.0.1' });
      expect(String(line!.msg)).toContain(origin);
      expect(gw.logs).toContainEqual(expect.objectContaining({ event: 'handshake_rejected', result: 'bad_origin', status: 403 }));
    } finally {
      foreign.closeAllConnections();
      await new Promise((r) => foreign.close(r));
    }
  });
});
