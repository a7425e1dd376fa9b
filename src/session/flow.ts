/**
 * Flow-control building blocks for a session: a read gate that pauses a source while any reason to
 * pause holds (so two reasons cannot resume each other's pause), and a token bucket for the
 * per-session byte rate. Pure logic; the clock is injectable for tests.
 */

/** Pauses a readable source while at least one reason holds; resumes when the last is released. */
export class ReadGate<Reason extends string> {
  /**
   * The reasons holding the gate: a few at most. Replaced rather than edited, so an open gate holds
   * an empty array (no backing store) instead of a Set's hash table: most sessions sit idle here.
   */
  private reasons: readonly Reason[] = [];

  constructor(
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  /** Adds a reason; returns true if this reason was not already holding the gate. */
  hold(reason: Reason): boolean {
    if (this.reasons.includes(reason)) return false;
    if (this.reasons.length === 0) this.pause();
    this.reasons = [...this.reasons, reason];
    return true;
  }

  /** Removes a reason; returns true if it was holding the gate. */
  release(reason: Reason): boolean {
    if (!this.reasons.includes(reason)) return false;
    this.reasons = this.reasons.filter((r) => r !== reason);
    if (this.reasons.length === 0) this.resume();
    return true;
  }

  isHeld(reason: Reason): boolean {
    return this.reasons.includes(reason);
  }

  get paused(): boolean {
    return this.reasons.length > 0;
  }
}

/**
 * A token bucket of `ratePerSecond` with `burstSeconds` of capacity. `take(n)` always succeeds (the
 * data has already arrived and is never dropped) and says how long to stop reading so that the
 * average stays at the rate.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;

  constructor(
    private readonly ratePerSecond: number,
    burstSeconds = 2,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = ratePerSecond * burstSeconds;
    this.tokens = this.capacity;
    this.last = now();
  }

  /** Spends `n` tokens; returns 0, or the milliseconds until the balance is back to zero. */
  take(n: number): number {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSecond);
  }
}
