/**
 * Connections that have not finished their HTTP request head yet (slowloris): each gets a deadline
 * (--handshake-timeout) to complete it, and one client address may hold only so many at once
 * (--max-handshakes-per-ip), so a few addresses sending headers slowly cannot use up descriptors.
 * `--max-connections` and the per-IP session limits only count upgraded sessions; this covers the
 * time before.
 *
 * Counted by the TCP peer (the request head, with any X-Forwarded-For, has not arrived yet), so
 * connections from --trusted-proxies are not counted per address: a reverse proxy sends complete
 * heads and enforces its own header timeout. The deadline applies to every connection.
 */
import type { Socket } from 'node:net';
import { normalizeAddress } from './client-ip';
import type { TrustedProxies } from './trusted-proxies';

export interface PendingLimits {
  /** Time from TCP accept to a complete request head, ms. */
  readonly handshakeTimeoutMs: number;
  /** Connections one address may have still sending their request head; 0 = unlimited. */
  readonly maxHandshakesPerIp: number;
}

/** What the tracker decided for a new connection. */
export type PendingVerdict = 'ok' | 'per_ip';

interface Pending {
  readonly ip: string | null;
  readonly timer: NodeJS.Timeout;
}

export class PendingHandshakes {
  private readonly pending = new Map<Socket, Pending>();
  private readonly byIp = new Map<string, number>();
  /** One shared 'close' listener: `this` is the socket. */
  private readonly onSocketClose: (this: Socket) => void;

  constructor(
    private readonly limits: PendingLimits,
    private readonly trusted: TrustedProxies,
    /** Called when a connection ran out of time: answer 408 and close it. */
    private readonly onExpired: (socket: Socket) => void,
  ) {
    const tracker = this;
    this.onSocketClose = function (this: Socket) {
      tracker.settle(this);
    };
  }

  /** A new TCP connection (the server's 'connection' event). On `per_ip` the caller refuses it; nothing is tracked. */
  track(socket: Socket): PendingVerdict {
    const raw = socket.remoteAddress;
    const ip = raw === undefined ? null : normalizeAddress(raw);
    const counted = ip !== null && !this.trusted.has(ip) ? ip : null;
    if (counted !== null && this.limits.maxHandshakesPerIp > 0) {
      const n = this.byIp.get(counted) ?? 0;
      if (n >= this.limits.maxHandshakesPerIp) return 'per_ip';
      this.byIp.set(counted, n + 1);
    }
    const timer = setTimeout(PendingHandshakes.expire, this.limits.handshakeTimeoutMs, this, socket);
    this.pending.set(socket, { ip: counted, timer });
    socket.once('close', this.onSocketClose);
    return 'ok';
  }

  /** The request head is complete (an upgrade or a plain request), or the connection closed: stop tracking it. */
  settle(socket: Socket): void {
    const entry = this.pending.get(socket);
    if (entry === undefined) return;
    this.pending.delete(socket);
    clearTimeout(entry.timer);
    socket.removeListener('close', this.onSocketClose);
    if (entry.ip !== null && this.limits.maxHandshakesPerIp > 0) {
      const n = (this.byIp.get(entry.ip) ?? 1) - 1;
      if (n <= 0) this.byIp.delete(entry.ip);
      else this.byIp.set(entry.ip, n);
    }
  }

  /** Connections still sending their head. */
  get size(): number {
    return this.pending.size;
  }

  /** Addresses with at least one such connection (memory stays bounded by the connections themselves). */
  get trackedAddresses(): number {
    return this.byIp.size;
  }

  private static expire(tracker: PendingHandshakes, socket: Socket): void {
    if (!tracker.pending.has(socket)) return;
    tracker.settle(socket);
    tracker.onExpired(socket);
  }
}
