/**
 * A cheap, cached answer to "does the XMPP server accept TCP connections?" for /readyz: at most one
 * probe per interval, concurrent callers share the probe in flight, and the socket is closed as soon
 * as it connects (no XMPP traffic, nothing in the server's session list).
 */
import type { HostPort } from '../config';
import { connectUpstream } from './connect';

export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
  readonly at: number;
}

export class UpstreamProbe {
  private last: ProbeResult | null = null;
  private inFlight: Promise<ProbeResult> | null = null;

  constructor(
    private readonly target: HostPort,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
  ) {}

  async check(now = Date.now()): Promise<ProbeResult> {
    if (this.last !== null && now - this.last.at < this.intervalMs) return this.last;
    this.inFlight ??= new Promise<ProbeResult>((resolve) => {
      const socket = connectUpstream(this.target, this.timeoutMs, (outcome) => {
        socket.destroy();
        resolve({ ok: outcome.ok, detail: outcome.ok ? 'upstream accepts connections' : outcome.message, at: Date.now() });
      });
      socket.on('error', () => undefined);
    }).then((result) => {
      this.last = result;
      this.inFlight = null;
      return result;
    });
    return this.inFlight;
  }
}
