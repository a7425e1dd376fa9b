/**
 * A real browser logs in through the gateway: Debian's Chromium, driven by playwright-core, opens a
 * page (tests/browser/strophe-login.html) that loads strophe.js's browser build, connects to the
 * gateway's ws:// URL, logs in to a private Prosody with SASL PLAIN, sends a chat message to its own
 * full JID, receives it and disconnects. A page from an origin not in `allowedOrigins` is refused
 * (HTTP 403 on the upgrade), which strophe reports as CONNFAIL.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { processesMentioning } from '../helpers/processes';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const PAGE_HTML = join(__dirname, '..', 'browser', 'strophe-login.html');
const STROPHE_JS = join(__dirname, '..', '..', 'node_modules', 'strophe.js', 'dist', 'strophe.umd.min.js');
const RESULT_TIMEOUT_MS = 20_000;

interface PageResult {
  ok: boolean;
  steps: string[];
  jid?: string;
  echoed?: { from: string; body: string };
  error?: string;
}

/** A static server on 127.0.0.1:0 for the login page and strophe.js's UMD build. */
async function startPageServer(): Promise<{ server: http.Server; origin: string }> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path === '/' ? PAGE_HTML : path === '/strophe.umd.min.js' ? STROPHE_JS : null;
    if (file === null) {
      res.writeHead(path === '/favicon.ico' ? 204 : 404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closeServer(server: http.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}


describe('a real browser (Chromium + strophe.js) through the gateway', () => {
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let allowed: { server: http.Server; origin: string };
  let foreign: { server: http.Server; origin: string };
  let profileDir: string;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    try {
      execFileSync(CHROMIUM, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      throw new Error(`${CHROMIUM} is not installed: run \`npm run test:deps\` (installs Debian chromium)`);
    }
    prosody = await startProsody();
    allowed = await startPageServer();
    foreign = await startPageServer();
    gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort }, allowedOrigins: [allowed.origin] });
    profileDir = mkdtempSync(join(tmpdir(), 'xmppgw-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    // Chromium's processes (browser, zygotes, renderers) all carry the profile dir on their command
    // line while alive; after close, wait (bounded) until every one has left /proc, zombies included.
    const ours = profileDir ? processesMentioning(profileDir) : [];
    await context?.close().catch(() => undefined);
    if (profileDir) {
      const alive = (): number[] => ours.filter((pid) => existsSync(`/proc/${pid}`));
      const deadline = Date.now() + 5000;
      while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const left = [...new Set([...alive(), ...processesMentioning(profileDir)])];
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(profileDir, { recursive: true, force: true });
      expect(left).toEqual([]);
    }
    await closeServer(allowed?.server);
    await closeServer(foreign?.server);
    await gw?.close();
    await prosody?.stop();
  }, 30_000);

  async function runPage(origin: string): Promise<PageResult> {
    const account = prosody.accounts[0]!;
    const query = new URLSearchParams({ ws: gw.url, jid: account.jid, password: account.password });
    const page = await context!.newPage();
    const console: string[] = [];
    page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${origin}/?${query.toString()}`, { timeout: 10_000 });
      try {
        await page.waitForFunction(() => (globalThis as unknown as { xmppResult?: unknown }).xmppResult !== undefined, undefined, { timeout: RESULT_TIMEOUT_MS });
      } catch (e) {
        throw new Error(`${(e as Error).message}\npage console:\n${console.join('\n')}`);
      }
      return await page.evaluate(() => (globalThis as unknown as { xmppResult: PageResult }).xmppResult);
    } finally {
      await page.close();
    }
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
