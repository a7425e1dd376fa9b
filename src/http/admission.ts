/**
 * Who may open a session right now: the process-wide connection cap (HTTP 503), and per client IP
 * a concurrency cap and a new-connection rate (HTTP 429). Memory is bounded by the number of
 * distinct addresses seen in one rate window; stale entries are swept.
 */
import type { Rate } from '../config';

export type Admission = 'ok' | 'over_limit' | 'per_ip' | 'rate_limited';

export interface AdmissionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly connectionRatePerIp: Rate;
}

interface PerIp {
  active: number;
  windowStart: number;
  started: number;
}

export class AdmissionControl {
  private total = 0;
  private readonly byIp = new Map<string, PerIp>();

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get active(): number {
    return this.total;
  }

  /** Decides for one new connection; on 'ok' the caller must call release(ip) when it ends. */
  admit(ip: string): Admission {
    const { maxConnections, maxConnectionsPerIp, connectionRatePerIp: rate } = this.limits;
    if (maxConnections > 0 && this.total >= maxConnections) return 'over_limit';
    const t = this.now();
    let entry = this.byIp.get(ip);
    if (entry === undefined) {
      entry = { active: 0, windowStart: t, started: 0 };
      this.byIp.set(ip, entry);
    }
    if (t - entry.windowStart >= rate.windowMs) {
      entry.windowStart = t;
      entry.started = 0;
    }
    if (maxConnectionsPerIp > 0 && entry.active >= maxConnectionsPerIp) return 'per_ip';
    if (rate.count > 0 && entry.started >= rate.count) return 'rate_limited';
    entry.started++;
    entry.active++;
    this.total++;
    return 'ok';
  }

  release(ip: string): void {
    const entry = this.byIp.get(ip);
    if (entry === undefined || entry.active === 0) return;
    entry.active--;
    this.total--;
  }

  /** Forgets addresses with no session whose rate window has passed. */
  sweep(): void {
    const t = this.now();
    for (const [ip, entry] of this.byIp) {
      if (entry.active === 0 && t - entry.windowStart >= this.limits.connectionRatePerIp.windowMs) this.byIp.delete(ip);
    }
  }

  /** Tracked addresses (for tests: memory stays bounded). */
  get trackedAddresses(): number {
    return this.byIp.size;
  }
}
