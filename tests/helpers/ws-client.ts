/** A raw `ws` client for protocol-level checks: collects every message and the close event. */
import WebSocket from 'ws';

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class TestClient {
  readonly ws: WebSocket;
  readonly messages: string[] = [];
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(url: string, protocols: string | string[] = 'xmpp', options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, protocols, options);
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.messages.push(isBinary ? `<binary ${data.length}>` : data.toString('utf8'));
      for (const w of this.waiters.splice(0)) w();
    });
    this.ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode })));
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code: number, reason: Buffer) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  static async open(url: string, protocols: string | string[] = 'xmpp', options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const c = new TestClient(url, protocols, options);
    await c.opened;
    return c;
  }

  send(xml: string | Buffer, binary = false): void {
    this.ws.send(xml, { binary });
  }

  /** Waits until at least `n` messages arrived (or the socket closed), bounded by `timeoutMs`. */
  async waitFor(n: number, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n && this.ws.readyState !== WebSocket.CLOSED) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} messages; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.messages;
  }

  /** Waits for a message matching `re`, returning it. */
  async waitForMatch(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.find((m) => re.test(m));
      if (hit !== undefined) return hit;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed before ${re}; got ${JSON.stringify(this.messages)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(this.messages)}`);
      await this.waitFor(this.messages.length + 1, left).catch(() => undefined);
    }
  }
}

export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
export const openXml = (to = 'localhost'): string => `<open xmlns="${NS_FRAMING}" to="${to}" version="1.0"/>`;
export const closeXml = `<close xmlns="${NS_FRAMING}"/>`;
