/**
 * Connections that have not finished their HTTP request head yet (slowloris): one client address
 * may hold only so many at once (--max-handshakes-per-ip), so a few addresses sending headers
 * slowly cannot use up descriptors. `--max-connections` and the per-IP session limits only count
 * upgraded sessions; this covers the time before.
 *
 * The deadline on the head (--handshake-timeout) is Node's own `headersTimeout`, checked every
 * `connectionsCheckingInterval` (../gateway.ts): it covers a connection from accept, keep-alive
 * requests after the first too, and a second timer per connection here only raced it.
 *
 * Counted by the TCP peer (the request head, with any X-Forwarded-For, has not arrived yet), so
 * connections from --trusted-proxies are not counted: a reverse proxy sends complete heads and
 * enforces its own header timeout. With the limit off, nothing is tracked.
 */
import type { Socket } from 'node:net';
import { normalizeAddress } from './client-ip';
import type { TrustedProxies } from './trusted-proxies';

/** What the tracker decided for a new connection. */
export type PendingVerdict = 'ok' | 'per_ip';

export class PendingHandshakes {
  /** Counted connections still sending their head, and the address each counts against. */
  private readonly pending = new Map<Socket, string>();
  private readonly byIp = new Map<string, number>();
  /** One shared 'close' listener: `this` is the socket. */
  private readonly onSocketClose: (this: Socket) => void;

  constructor(
    /** Connections one address may have still sending their request head; 0 = unlimited. */
    private readonly maxPerIp: number,
    private readonly trusted: TrustedProxies,
  ) {
    const tracker = this;
    this.onSocketClose = function (this: Socket) {
      tracker.settle(this);
    };
  }

  /** A new TCP connection (the server's 'connection' event). On `per_ip` the caller refuses it; nothing is tracked. */
  track(socket: Socket): PendingVerdict {
    if (this.maxPerIp === 0) return 'ok';
    const raw = socket.remoteAddress;
    if (raw === undefined) return 'ok';
    const ip = normalizeAddress(raw);
    if (this.trusted.has(ip)) return 'ok';
    const n = this.byIp.get(ip) ?? 0;
    if (n >= this.maxPerIp) return 'per_ip';
    this.byIp.set(ip, n + 1);
    this.pending.set(socket, ip);
    // on, not once: settle() removes it, and once() would wrap it in a new closure per connection.
    socket.on('close', this.onSocketClose);
    return 'ok';
  }

  /** The request head is complete (an upgrade or a plain request), or the connection closed: stop counting it. */
  settle(socket: Socket): void {
    const ip = this.pending.get(socket);
    if (ip === undefined) return;
    this.pending.delete(socket);
    socket.removeListener('close', this.onSocketClose);
    const n = (this.byIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.byIp.delete(ip);
    else this.byIp.set(ip, n);
  }

  /** Counted connections still sending their head. */
  get size(): number {
    return this.pending.size;
  }

  /** Addresses with at least one such connection (memory stays bounded by the connections themselves). */
  get trackedAddresses(): number {
    return this.byIp.size;
  }
}
