/**
 * `--upstream-connect-rate`: at most `count` new TCP connections to the XMPP server per `windowMs`,
 * in order of arrival; the rest wait their turn instead of being refused.
 *
 * After a rolling update or a network blip every client reconnects at once, and every session needs
 * its own connection to the server (RFC 6120 §3). A server that accepts, say, 500 connections a
 * second (its listen backlog, its TLS or SASL cost) drops SYNs beyond that; a dropped SYN is retried
 * by the kernel after 1 s, 3 s, 7 s, so a burst over the server's pace finishes much later than one
 * paced to it. The wait counts against --connect-timeout (the caller's timer runs from the request),
 * so the queue holds at most the sessions connecting at that moment, each for a bounded time.
 *
 * A token bucket holding up to `count` tokens, refilled continuously at `count / windowMs`.
 */
import type { Rate } from '../config';

export class ConnectPacer {
  private tokens: number;
  private last: number;
  private readonly queue: Array<() => boolean> = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly rate: Rate,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = rate.count;
    this.last = now();
  }

  /** True when the rate is unlimited (count 0): schedule() then runs everything at once. */
  get unlimited(): boolean {
    return this.rate.count === 0;
  }

  /** Connections waiting for their turn (for tests and metrics). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /**
   * Runs `start` when a token is free, now or later, in arrival order. `start` returns false when
   * the connection is no longer wanted (the session ended while waiting); that uses no token.
   */
  schedule(start: () => boolean): void {
    if (this.unlimited) {
      start();
      return;
    }
    this.queue.push(start);
    this.run();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.rate.count, this.tokens + ((t - this.last) * this.rate.count) / this.rate.windowMs);
    this.last = t;
  }

  private run(): void {
    this.refill();
    while (this.head < this.queue.length && this.tokens >= 1) {
      const start = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as () => boolean;
      if (start()) this.tokens -= 1;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.waiting > 0 && this.timer === null) {
      const ms = Math.max(1, Math.ceil(((1 - this.tokens) * this.rate.windowMs) / this.rate.count));
      this.timer = setTimeout(() => {
        this.timer = null;
        this.run();
      }, ms);
    }
  }

  /** Stops the timer (gateway shutdown); waiting connections are abandoned with their sessions. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
