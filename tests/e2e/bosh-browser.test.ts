/**
 * strophe.js's BOSH in a real browser, cross-origin: Debian's Chromium (playwright-core) opens the
 * login page (tests/browser/strophe-login.html) from one origin and gives strophe the gateway's
 * http://…/http-bind on another, so every request is a CORS request (preflight, then POSTs that
 * must carry Access-Control-Allow-Origin). It logs in to a private Prosody with SASL PLAIN (stream
 * restart included), sends itself a chat message, receives it and terminates. A page from an origin
 * not in `allowedOrigins` gets no CORS answer, which strophe reports as a failed connection.
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


describe('Chromium + strophe.js over BOSH, cross-origin with CORS', () => {
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
    profileDir = mkdtempSync(join(tmpdir(), 'xmppgw-chromium-bosh-'));
    context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
  }, 60_000);

  afterAll(async () => {
    const ours = profileDir ? processesMentioning(profileDir) : [];
    await context?.close().catch(() => undefined);
    if (profileDir) {
      const alive = (): number[] => ours.filter((pid) => existsSync(`/proc/${pid}`));
      const deadline = Date.now() + 5000;
      while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const pid of [...new Set([...alive(), ...processesMentioning(profileDir)])]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(profileDir, { recursive: true, force: true });
    }
    await closeServer(allowed?.server);
    await closeServer(foreign?.server);
    await gw?.close();
    await prosody?.stop();
  }, 30_000);

  async function runPage(origin: string): Promise<PageResult> {
    const account = prosody.accounts[0]!;
    // strophe picks BOSH for an http(s):// service URL.
    const query = new URLSearchParams({ ws: `http://127.0.0.1:${gw.port}/http-bind`, jid: account.jid, password: account.password });
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
