/**
 * The strophe.js login page for the browser tests (tests/browser/strophe-login.html): a static server
 * for the page and strophe.js's UMD build on 127.0.0.1:0 (one per Origin a test needs), and a runner
 * that opens the page in Chromium and waits for the result it posts on `globalThis.xmppResult`.
 * The page picks WebSocket or BOSH from the service URL it is given (ws:// or http://).
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { launchChromium, type Chromium } from './chromium';
import { startGateway, type RunningGateway } from './gateway';

const PAGE_HTML = join(__dirname, '..', 'browser', 'strophe-login.html');
const STROPHE_JS = join(__dirname, '..', '..', 'node_modules', 'strophe.js', 'dist', 'strophe.umd.min.js');
const RESULT_TIMEOUT_MS = 20_000;

/** What the page reports when strophe is done (tests/browser/strophe-login.html). */
export interface PageResult {
  ok: boolean;
  steps: string[];
  jid?: string;
  echoed?: { from: string; body: string };
  error?: string;
}

export interface PageServer {
  readonly origin: string;
  close(): Promise<void>;
}

/** A static server on 127.0.0.1:0 for the login page and strophe.js's UMD build. */
export async function startStrophePageServer(): Promise<PageServer> {
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
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * Opens the page from `origin` with strophe pointed at `service` (a ws:// URL for WebSocket, an
 * http:// one for BOSH), logs in as `jid`, and returns what the page reported. The page's console is
 * appended to the error when it reports nothing in time.
 */
export async function runStrophePage(context: BrowserContext, origin: string, login: { service: string; jid: string; password: string }): Promise<PageResult> {
  const query = new URLSearchParams({ ws: login.service, jid: login.jid, password: login.password });
  const page = await context.newPage();
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

/**
 * Everything a strophe.js browser test stands on: a private Prosody, two page servers (the allowed
 * Origin and a foreign one), a gateway in front of Prosody that allows only the first, and Chromium.
 * `interceptRequests: false` when the test asserts CORS preflights (Playwright would answer them).
 */
export interface StropheRig {
  readonly prosody: ProsodyInstance;
  readonly gw: RunningGateway;
  readonly allowed: PageServer;
  readonly foreign: PageServer;
  readonly browser: Chromium;
  /** Stops everything; resolves with the Chromium PIDs that had to be killed (expected: none). */
  close(): Promise<number[]>;
}

export async function startStropheRig(options: { interceptRequests?: boolean } = {}): Promise<StropheRig> {
  const stops: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<number[]> => {
    let left: number[] = [];
    for (const stop of stops.splice(0).reverse()) {
      const r = await stop();
      if (Array.isArray(r)) left = r as number[];
    }
    return left;
  };
  try {
    const prosody = await startProsody();
    stops.push(() => prosody.stop());
    const allowed = await startStrophePageServer();
    stops.push(() => allowed.close());
    const foreign = await startStrophePageServer();
    stops.push(() => foreign.close());
    const gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort }, allowedOrigins: [allowed.origin] });
    stops.push(() => gw.close());
    const browser = await launchChromium({ interceptRequests: options.interceptRequests });
    stops.push(() => browser.close());
    return { prosody, gw, allowed, foreign, browser, close };
  } catch (err) {
    await close(); // nothing half-started is left behind
    throw err;
  }
}
