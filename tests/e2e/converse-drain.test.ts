/**
 * A gateway drains (SIGTERM to the `xmpp-ws-gateway` process) while alice and bob are online in
 * Converse.js 14 (Chromium): Converse reconnects, and a message sent after the reconnect arrives.
 *
 * The deployment is the usual one for rolling restarts: nginx with TLS in front of two gateways,
 * the second one a `backup` that nginx uses once the first stops accepting. Both rounds drain
 * the first gateway:
 *  - without --redirect-uri: the sessions end with `<stream:error><system-shutdown/>`;
 *  - with --redirect-uri (wss:// only, so this needs the TLS proxy): they end with
 *    `<close see-other-uri="…"/>`, pointing at the public URL, which now leads to the second gateway.
 *    Strophe, Converse's transport, follows see-other-uri only when it comes in answer to its
 *    `<open/>`; mid-session it reconnects to its configured URL, which is why the redirect target
 *    must be the load-balanced public URL (README, "Graceful drain").
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { CliGateway } from '../helpers/cli';
import { launchChromium, testOutputDir, type Chromium } from '../helpers/chromium';
import { ConverseTab, makeConverseSite, deliver, framesNotOneElement, startChat, writeConversePage } from '../helpers/converse';
import { httpPrelude, mainPrelude, startNginx, type RunningNginx } from '../helpers/nginx';
import { freePorts } from '../helpers/net';
import { waitUntil } from '../helpers/raw-xmpp';

jest.setTimeout(180_000);

describe('Converse.js across a gateway drain (nginx, two gateways)', () => {
  let dir: string;
  let prosody: ProsodyInstance;
  let nginx: RunningNginx;
  let browser: Chromium;
  let sitePort: number;
  let primaryPort: number;
  let backup: CliGateway;
  const gateways: CliGateway[] = [];
  const out = testOutputDir('e2e-converse-drain');

  async function startGateway(port: number, extra: string[] = []): Promise<CliGateway> {
    const cli = new CliGateway(['--listen', `127.0.0.1:${port}`, '--metrics-listen', 'off', '--upstream', `127.0.0.1:${prosody.c2sPort}`,
      '--workers', '1', '--drain-timeout', '0', '--log-level', 'debug', ...extra]);
    gateways.push(cli);
    await cli.waitForEvents('listening');
    return cli;
  }

  beforeAll(async () => {
    const folder = makeConverseSite('xmppgw-converse-drain-');
    dir = folder.dir;
    const { html, cert, key } = folder;
    prosody = await startProsody({ sharedRoster: true });
    let backupListen: number;
    [sitePort, primaryPort, backupListen] = await freePorts(3);
    backup = await startGateway(backupListen);
    const backupPort = Number(backup.events('listening')[0]!.port);
    const config = [
      mainPrelude(dir),
      'http {', httpPrelude(dir),
      // max_fails=0: the primary is tried first on every new connection, so it is used again as soon as it is back.
      `upstream gateways { server 127.0.0.1:${primaryPort} max_fails=0; server 127.0.0.1:${backupPort} backup; }`,
      'server {',
      `  listen 127.0.0.1:${sitePort} ssl;`,
      `  ssl_certificate ${cert};`, `  ssl_certificate_key ${key};`,
      `  root ${html};`,
      '  location = /xmpp-websocket {',
      '    proxy_pass http://gateways;', '    proxy_http_version 1.1;',
      '    proxy_set_header Upgrade $http_upgrade;', '    proxy_set_header Connection "upgrade";',
      '    proxy_set_header Host $host;', '    proxy_buffering off;', '    proxy_read_timeout 120s;',
      '  }',
      '}',
      '}',
    ].join('\n');
    nginx = await startNginx(dir, config, [sitePort]);
    writeConversePage(html, 'index.html', 'settings.js', {
      websocket_url: `wss://localhost:${sitePort}/xmpp-websocket`, view_mode: 'fullscreen', authentication: 'login',
      auto_reconnect: true, discover_connection_methods: false, assets_path: '/dist/',
    });
    browser = await launchChromium({ ignoreHTTPSErrors: true });
  }, 120_000);

  afterAll(async () => {
    const left = await browser?.close();
    await nginx?.stop();
    for (const g of gateways) await g.kill();
    await prosody?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(left ?? []).toEqual([]);
  }, 30_000);

  /** The two users online, chatting, on the primary gateway. */
  async function bothOnline(primary: CliGateway): Promise<[ConverseTab, ConverseTab]> {
    const [alice, bob] = prosody.accounts as [ProsodyInstance['accounts'][0], ProsodyInstance['accounts'][0]];
    const a = await ConverseTab.open(browser.context, `https://localhost:${sitePort}/`);
    const b = await ConverseTab.open(browser.context, `https://localhost:${sitePort}/`);
    await startChat(a, alice, b, bob);
    const before = `before the drain ${Date.now()}`;
    await deliver(a, alice, b, bob, before);
    // Both sessions are on the primary (nginx uses the backup only when the primary refuses).
    await primary.waitForEvents('upstream_connected', 2);
    return [a, b];
  }

  /** SIGTERM the primary; both tabs reconnect (through nginx, to the backup) and chat again. */
  async function drainAndReconnect(primary: CliGateway, a: ConverseTab, b: ConverseTab, round: string): Promise<void> {
    const [alice, bob] = prosody.accounts as [ProsodyInstance['accounts'][0], ProsodyInstance['accounts'][0]];
    primary.child.kill('SIGTERM');
    expect((await primary.exited).code).toBe(0);
    await waitUntil(() => a.sockets.length >= 2 && b.sockets.length >= 2 && a.handshakes.filter((h) => h.status === 101).length >= 2 && b.handshakes.filter((h) => h.status === 101).length >= 2, 'both tabs reconnected', 60_000);
    // Presence again on the new sessions: each sees the other online through the backup.
    await waitUntil(() => b.sockets[b.sockets.length - 1]!.received.some((f) => f.startsWith('<presence') && f.includes(`from="${alice.jid}/`) || f.includes(`from='${alice.jid}/`)), 'bob sees alice again', 60_000);
    await waitUntil(() => a.sockets[a.sockets.length - 1]!.received.some((f) => f.startsWith('<presence') && f.includes(`from="${bob.jid}/`) || f.includes(`from='${bob.jid}/`)), 'alice sees bob again', 60_000);
    const after = `after the ${round} drain ${Date.now()}`;
    await deliver(a, alice, b, bob, after);
    expect(b.sockets[b.sockets.length - 1]!.received.some((f) => f.startsWith('<message') && f.includes(after))).toBe(true);
    const reply = `reply after the ${round} drain ${Date.now()}`;
    await deliver(b, bob, a, alice, reply);
    await a.page.screenshot({ path: join(out, `${round}-alice.png`) });
    for (const tab of [a, b]) {
      for (const s of tab.sockets) {
        expect(framesNotOneElement(s.sent)).toEqual([]);
        expect(framesNotOneElement(s.received)).toEqual([]);
      }
      expect(tab.boshRequests()).toEqual([]);
    }
  }

  test('without --redirect-uri: system-shutdown, Converse reconnects, a message after the reconnect arrives', async () => {
    const primary = await startGateway(primaryPort);
    const [a, b] = await bothOnline(primary);
    try {
      await drainAndReconnect(primary, a, b, 'plain');
      // The first socket of each tab ended with the RFC 6120 system-shutdown stream error, then <close/>.
      // (Converse may open and drop a socket before the one it logs in on, so look for the drained one.)
      // Converse may close its side as soon as it reads the stream error, and Chromium then shows no
      // frame after it: so the <close/> is either the only frame after the error, or not seen at all.
      // (The order error → <close/> → close 1001 on the wire is asserted with raw clients in drain.test.ts.)
      for (const tab of [a, b]) {
        const drained = tab.sockets.filter((s) => s.received.some((f) => f.includes('<system-shutdown')));
        expect(drained).toHaveLength(1);
        const frames = drained[0]!.received;
        const after = frames.slice(frames.findIndex((f) => f.includes('<system-shutdown')) + 1);
        expect(after.length).toBeLessThanOrEqual(1);
        for (const f of after) expect(f).toMatch(/^<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"\s*\/>$/);
        expect(tab.sockets.indexOf(drained[0]!)).toBeLessThan(tab.sockets.length - 1);
      }
      expect(primary.events('session_closed').map((l) => l.reason).filter((r) => r !== 'client_gone')).toEqual(['shutdown', 'shutdown']);
    } finally {
      await a.page.close();
      await b.page.close();
    }
  });

  test('with --redirect-uri wss://…: see-other-uri, Converse reconnects, a message after the reconnect arrives', async () => {
    const target = `wss://localhost:${sitePort}/xmpp-websocket`;
    const primary = await startGateway(primaryPort, ['--redirect-uri', target]);
    const [a, b] = await bothOnline(primary);
    try {
      await drainAndReconnect(primary, a, b, 'redirect');
      for (const tab of [a, b]) {
        const redirect = `<close xmlns="urn:ietf:params:xml:ns:xmpp-framing" see-other-uri="${target}"/>`;
        const drained = tab.sockets.filter((s) => s.received.includes(redirect));
        expect(drained).toHaveLength(1);
        expect(drained[0]!.received[drained[0]!.received.length - 1]).toBe(redirect);
        expect(tab.sockets.some((s) => s.received.some((f) => f.includes('<system-shutdown')))).toBe(false);
        expect(tab.sockets.indexOf(drained[0]!)).toBeLessThan(tab.sockets.length - 1);
      }
      // (a socket Converse opened and dropped before logging in ends as client_gone)
      expect(primary.events('session_closed').map((l) => l.reason).filter((r) => r !== 'client_gone')).toEqual(['shutdown_redirect', 'shutdown_redirect']);
      // And the new sessions live on the second gateway.
      expect(backup.events('connection_opened').length).toBeGreaterThanOrEqual(4);
    } finally {
      await a.page.close();
      await b.page.close();
    }
  });
});
