/**
 * A scripted c2s TCP server on 127.0.0.1:0 for protocol-level tests of the gateway: real sockets,
 * behaviour chosen per test. It records every byte the gateway sends and whether a connection ended
 * with `</stream:stream>`. By default it answers like a minimal RFC 6120 server: header + features,
 * SASL success for any `<auth>`, restart, bind, and echoes messages addressed to the bound JID.
 */
import * as net from 'node:net';
import { freePort } from './net';

export const SERVER_HEADER = (id: string): string =>
  `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='${id}' from='localhost' version='1.0' xml:lang='en'>`;
export const FEATURES_SASL =
  "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
export const FEATURES_STARTTLS_OPTIONAL =
  "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
export const FEATURES_STARTTLS_REQUIRED =
  "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
export const FEATURES_BIND = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";

export class FakeConnection {
  received = '';
  /** True once the gateway sent `</stream:stream>`. */
  gotFooter = false;
  readonly closed: Promise<void>;
  headers = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.received += text;
      // Only the new text (and a footer split across reads) can hold a new footer: scanning all of
      // `received` on every read would be quadratic in a long session.
      if (!this.gotFooter && this.received.indexOf('</stream:stream>', this.received.length - text.length - 15) >= 0) this.gotFooter = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      for (const w of this.waiters.splice(0)) w();
      resolve();
    }));
  }

  write(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  /** Resolves when `received` matches `re` (bounded). */
  async waitFor(re: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.received)) {
      if (this.socket.destroyed) throw new Error(`connection closed before ${re}; received ${JSON.stringify(this.received)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; received ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

export type Behaviour = (conn: FakeConnection) => void;

/**
 * The default: a tiny but correct login flow and an echo of messages to the bound JID.
 * `beforeClose` is written in the same write as the server's `</stream:stream>` (a last stanza and
 * the closing tag in one TCP read).
 */
export function minimalServer(features: string = FEATURES_SASL, beforeClose = ''): Behaviour {
  return (conn) => {
    let seen = 0;
    let authed = false;
    let n = 0;
    conn.socket.on('data', () => {
      // Handle complete top-level items in order; the gateway sends whole elements, so a regex per item suffices here.
      for (;;) {
        const rest = conn.received.slice(seen);
        const m = /^\s*(<\?xml[^>]*\?>\s*)?(<stream:stream[^>]*>|<\/stream:stream>|<auth[\s\S]*?<\/auth>|<auth[^>]*\/>|<iq[\s\S]*?<\/iq>|<message[\s\S]*?<\/message>|<presence[^>]*\/>|<presence[\s\S]*?<\/presence>)/.exec(rest);
        if (!m) return;
        seen += m[0].length;
        const item = m[2]!;
        if (item.startsWith('<stream:stream')) {
          conn.headers++;
          conn.write(SERVER_HEADER(`s${++n}`) + (authed ? FEATURES_BIND : features));
        } else if (item === '</stream:stream>') {
          conn.write(`${beforeClose}</stream:stream>`);
          conn.socket.end();
        } else if (item.startsWith('<auth')) {
          authed = true;
          conn.write("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        } else if (item.startsWith('<iq') && item.includes('xmpp-bind')) {
          const id = /id=["']([^"']+)["']/.exec(item)?.[1] ?? 'x';
          conn.write(`<iq type='result' id='${id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@localhost/r</jid></bind></iq>`);
        } else if (item.startsWith('<message')) {
          conn.write(item);
        }
      }
    });
  };
}

export class FakeServer {
  readonly connections: FakeConnection[] = [];
  private readonly server: net.Server;
  private waiters: Array<() => void> = [];
  port = 0;

  constructor(private readonly behaviour: Behaviour = minimalServer()) {
    this.server = net.createServer((socket) => {
      const conn = new FakeConnection(socket);
      this.connections.push(conn);
      this.behaviour(conn);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async start(behaviour?: Behaviour): Promise<FakeServer> {
    const s = new FakeServer(behaviour);
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as net.AddressInfo).port;
    return s;
  }

  get upstream(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port };
  }

  async nextConnection(index = this.connections.length, timeoutMs = 15_000): Promise<FakeConnection> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a connection from the gateway');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.connections[index]!;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export const closedPort = freePort;
