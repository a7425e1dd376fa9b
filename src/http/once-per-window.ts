/**
 * "Log this at most once per key per window", in bounded memory: a refused Origin is worth a `warn`
 * line (it is usually a misconfiguration the operator must see), but a page retrying in a loop, or
 * a scanner cycling through made-up Origins, must neither flood the log nor grow a map without end.
 * Pure apart from the clock the caller passes in.
 */
export class OncePerWindow {
  /** key → time it was last let through; Map keeps insertion order, so the first entry is the oldest. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    /** Most keys remembered; past it the oldest is forgotten (and may be logged again early). */
    private readonly maxKeys: number,
  ) {}

  /** True when `key` was not let through in the last window (and records it). */
  take(key: string, now: number): boolean {
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.windowMs) return false;
    this.seen.delete(key); // re-insert at the end: the newest entry
    if (this.seen.size >= this.maxKeys) {
      for (const [k, t] of this.seen) {
        if (now - t >= this.windowMs || this.seen.size >= this.maxKeys) this.seen.delete(k);
        else break;
      }
    }
    this.seen.set(key, now);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
