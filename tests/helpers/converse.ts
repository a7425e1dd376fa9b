/**
 * Driving Converse.js 14 in a Chromium tab the way a user does (login form, roster, chat box), and
 * recording what the tab puts on the wire: every WebSocket with the subprotocol the server chose
 * (from the DevTools protocol) and each frame both ways, every HTTP request (to prove no BOSH), and
 * the console (CSP violations, errors).
 */
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import type { BrowserContext, Page } from 'playwright-core';
import { findConversePackage } from '../../src/http/web-client';
import { makeCertificate } from './nginx';

export interface WireSocket {
  readonly url: string;
  readonly sent: string[];
  readonly received: string[];
  closed: boolean;
}

const UI_TIMEOUT_MS = 30_000;

export class ConverseTab {
  readonly sockets: WireSocket[] = [];
  /** Every WebSocket handshake answered, with the `Sec-WebSocket-Protocol` the server chose. */
  readonly handshakes: Array<{ url: string; status: number; protocol: string | null }> = [];
  readonly requests: Array<{ method: string; url: string; body: string | null }> = [];
  readonly console: string[] = [];
  /**
   * CORS preflights (OPTIONS) the tab sent and how they were answered, from DevTools: Playwright's
   * request events do not include them.
   */
  readonly preflights: Array<{ url: string; status: number | null; allowOrigin: string | null }> = [];
  /** `status url` of every response with status >= 400, and requests that failed outright. */
  readonly failedRequests: string[] = [];

  private constructor(readonly page: Page) {}

  /** Opens `url` in a new tab of `context` with the recorders attached before the first request. */
  static async open(context: BrowserContext, url: string): Promise<ConverseTab> {
    const page = await context.newPage();
    const tab = new ConverseTab(page);
    // The subprotocol the server chose is in the handshake response, which only DevTools shows.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const urls = new Map<string, string>();
    cdp.on('Network.webSocketCreated', (e: { requestId: string; url: string }) => urls.set(e.requestId, e.url));
    cdp.on('Network.webSocketHandshakeResponseReceived', (e: { requestId: string; response: { status: number; headers: Record<string, string> } }) => {
      const h = Object.entries(e.response.headers).find(([k]) => k.toLowerCase() === 'sec-websocket-protocol');
      tab.handshakes.push({ url: urls.get(e.requestId) ?? '', status: e.response.status, protocol: h ? h[1] : null });
    });
    const preflights = new Map<string, (typeof tab.preflights)[number]>();
    cdp.on('Network.requestWillBeSent', (e: { requestId: string; request: { url: string; method: string } }) => {
      if (e.request.method !== 'OPTIONS') return;
      const p: (typeof tab.preflights)[number] = { url: e.request.url, status: null, allowOrigin: null };
      preflights.set(e.requestId, p);
      tab.preflights.push(p);
    });
    cdp.on('Network.responseReceived', (e: { requestId: string; response: { status: number; headers: Record<string, string> } }) => {
      const p = preflights.get(e.requestId);
      if (p === undefined) return;
      p.status = e.response.status;
      p.allowOrigin = Object.entries(e.response.headers).find(([k]) => k.toLowerCase() === 'access-control-allow-origin')?.[1] ?? null;
    });
    page.on('websocket', (ws) => {
      const socket: WireSocket = { url: ws.url(), sent: [], received: [], closed: false };
      tab.sockets.push(socket);
      ws.on('framesent', (f) => socket.sent.push(typeof f.payload === 'string' ? f.payload : `<binary ${f.payload.length}>`));
      ws.on('framereceived', (f) => socket.received.push(typeof f.payload === 'string' ? f.payload : `<binary ${f.payload.length}>`));
      ws.on('close', () => (socket.closed = true));
    });
    page.on('request', (r) => tab.requests.push({ method: r.method(), url: r.url(), body: r.postData() }));
    page.on('response', (r) => { if (r.status() >= 400) tab.failedRequests.push(`${r.status()} ${r.url()}`); });
    page.on('requestfailed', (r) => tab.failedRequests.push(`failed ${r.url()}: ${r.failure()?.errorText ?? ''}`));
    page.on('console', (m) => tab.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => tab.console.push(`pageerror: ${e.message}`));
    await page.goto(url, { timeout: UI_TIMEOUT_MS });
    // Converse keeps a session per origin (localStorage, IndexedDB) and would resume the last
    // user's: each tab starts from nothing, as a new visitor.
    await page.evaluate(async () => {
      const g = globalThis as unknown as { localStorage: { clear(): void }; sessionStorage: { clear(): void }; indexedDB: { databases(): Promise<Array<{ name?: string }>>; deleteDatabase(n: string): void } };
      g.localStorage.clear();
      g.sessionStorage.clear();
      for (const db of await g.indexedDB.databases()) if (db.name) g.indexedDB.deleteDatabase(db.name);
    });
    await page.reload({ timeout: UI_TIMEOUT_MS });
    return tab;
  }

  /** Logs in through Converse's login form. */
  async login(jid: string, password: string): Promise<void> {
    try {
      await this.page.waitForSelector('converse-login-form input[name="jid"]', { timeout: UI_TIMEOUT_MS });
    } catch (e) {
      const failed = this.failedRequests.join('\n');
      throw new Error(`${(e as Error).message}\nfailed requests:\n${failed}\nconsole:\n${this.console.join('\n')}`);
    }
    await this.page.fill('converse-login-form input[name="jid"]', jid);
    await this.page.fill('converse-login-form input[name="password"]', password);
    await this.page.click('converse-login-form button[type="submit"]');
    await this.page.waitForSelector('.list-container.roster-contacts', { timeout: UI_TIMEOUT_MS });
  }

  /** Waits until the roster shows `jid` with this presence (`online`, `offline`, …). */
  async waitForContactStatus(jid: string, status: string): Promise<void> {
    await this.page.waitForSelector(`li.current-xmpp-contact[data-status="${status}"]:has(a.open-chat[data-jid="${jid}"])`, { timeout: UI_TIMEOUT_MS });
  }

  async openChat(jid: string): Promise<void> {
    await this.page.click(`a.open-chat[data-jid="${jid}"]`);
    await this.page.waitForSelector(`converse-chat[jid="${jid}"] textarea.chat-textarea`, { timeout: UI_TIMEOUT_MS });
  }

  /** Types a message in the open chat with `jid` and sends it with Enter. */
  async send(jid: string, text: string): Promise<void> {
    const box = this.page.locator(`converse-chat[jid="${jid}"] textarea.chat-textarea`);
    await box.fill(text);
    await box.press('Enter');
  }

  /** Waits until the chat with `jid` shows a message with exactly this text. */
  async waitForMessage(jid: string, text: string): Promise<void> {
    await this.page.locator(`converse-chat[jid="${jid}"] .chat-msg__text`, { hasText: text }).first().waitFor({ timeout: UI_TIMEOUT_MS });
  }

  /**
   * Logs out the way a user does: profile, "Log out", confirm; resolves when the login form is back.
   * Over BOSH, strophe then sends its `type='terminate'` body (XEP-0124 §13).
   */
  async logout(): Promise<void> {
    await this.page.click('converse-user-profile a.show-profile, a.show-profile', { timeout: UI_TIMEOUT_MS });
    await this.page.click('converse-profile-modal button.btn-danger', { timeout: UI_TIMEOUT_MS });
    await this.page.click('converse-confirm-modal form.confirm button[type="submit"]', { timeout: UI_TIMEOUT_MS });
    await this.page.waitForSelector('converse-login-form input[name="jid"]', { timeout: UI_TIMEOUT_MS });
  }

  /** Requests that were BOSH (XEP-0124/0206): a POST of an httpbind <body/>, or to an http-bind path. */
  boshRequests(): Array<{ method: string; url: string }> {
    return this.requests.filter((r) => /http-bind|bosh/i.test(r.url) || (r.body !== null && r.body.includes('http://jabber.org/protocol/httpbind')));
  }

  cspViolations(): string[] {
    return this.console.filter((l) => /Content Security Policy/i.test(l));
  }
}

/**
 * A temp folder for a test's nginx site serving Converse.js: `html/` (world-readable, since nginx's
 * workers may run as another user) with Converse's `dist/` linked in, and a self-signed certificate.
 * The caller removes `dir`.
 */
export function makeConverseSite(prefix: string): { dir: string; html: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  const html = join(dir, 'html');
  mkdirSync(html, { mode: 0o755 });
  symlinkSync(findConversePackage().distDir, join(html, 'dist'));
  return { dir, html, ...makeCertificate(dir) };
}

/**
 * A Converse.js page in `dir` (served by a test's nginx, with Converse's `dist/` under `/dist/`):
 * `htmlFile` loads Converse and `scriptFile`, which calls `converse.initialize(settings)`. Both are
 * made world-readable, since nginx's workers may run as another user.
 */
export function writeConversePage(dir: string, htmlFile: string, scriptFile: string, settings: object): void {
  writeFileSync(join(dir, htmlFile), [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Converse</title>',
    '<link rel="stylesheet" href="/dist/converse.min.css">',
    '<script type="module" src="/dist/converse.min.js"></script>',
    `<script type="module" src="/${scriptFile}"></script>`,
    '</head><body class="converse-fullscreen"></body></html>',
  ].join('\n'));
  writeFileSync(join(dir, scriptFile), `window.converse.initialize(${JSON.stringify(settings)});\n`);
  for (const f of [htmlFile, scriptFile]) chmodSync(join(dir, f), 0o644);
}

/** Who uses a tab: the JID the other user sees, the password, and what is typed in the login form (default: the JID). */
export interface ChatUser {
  readonly jid: string;
  readonly password: string;
  readonly login?: string;
}

/**
 * The start of every two-user test: both tabs log in, each sees the other online in its roster, and
 * each opens a chat with the other.
 */
export async function startChat(a: ConverseTab, alice: ChatUser, b: ConverseTab, bob: ChatUser): Promise<void> {
  await a.login(alice.login ?? alice.jid, alice.password);
  await b.login(bob.login ?? bob.jid, bob.password);
  await a.waitForContactStatus(bob.jid, 'online');
  await b.waitForContactStatus(alice.jid, 'online');
  await a.openChat(bob.jid);
  await b.openChat(alice.jid);
}

/** `from` (used by `sender`) sends `text` to `recipient`, and it shows in `to`'s chat with `sender`. */
export async function deliver(from: ConverseTab, sender: ChatUser, to: ConverseTab, recipient: ChatUser, text: string): Promise<void> {
  await from.send(recipient.jid, text);
  await to.waitForMessage(sender.jid, text);
}

/**
 * RFC 7395 §3.3.3: each WebSocket message is exactly one complete XML element. Returns the frames
 * that are not (empty when all are), parsed with a real XML parser.
 */
export function framesNotOneElement(frames: readonly string[]): string[] {
  const bad: string[] = [];
  for (const frame of frames) {
    let failed = false;
    const doc = new DOMParser({ onError: (level) => { if (level !== 'warning') failed = true; } }).parseFromString(frame, 'text/xml');
    if (failed || doc.documentElement === null || doc.childNodes.length !== 1) bad.push(frame);
  }
  return bad;
}

/** Frames whose element carries this text (a chat message body, say). */
export function framesWith(frames: readonly string[], text: string): string[] {
  return frames.filter((f) => f.includes(text));
}
