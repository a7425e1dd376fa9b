/**
 * At most one log line per key per window, with a count of the lines it held back, in bounded memory.
 *
 * Refused handshakes are warned about (an operator must learn that a limit is refusing clients), but a
 * flood of them must not become a flood of log lines: each (limit, client address) pair logs its first
 * refusal, then stays quiet for `windowMs`; the next line after that says how many were held back, and
 * `flush()` (called from the gateway's periodic sweep) reports counts whose pair went quiet. When more
 * than `maxKeys` pairs are live, new pairs share one overflow key per limit, so a flood from many
 * addresses costs at most `maxKeys` entries plus one per limit and still logs once per window per limit.
 */

export interface ThrottledLine {
  /** The key as given, or the overflow key when the table was full. */
  readonly key: string;
  /** Lines held back for this key since its last line. */
  readonly suppressed: number;
  /** True when this line stands for new keys beyond `maxKeys` (their individual addresses were not kept). */
  readonly overflow: boolean;
}

interface Entry {
  windowStart: number;
  suppressed: number;
}

export class LogThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly windowMs = 60_000,
    private readonly maxKeys = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * One event for `key` (and its `group`, the overflow bucket it falls into when the table is full).
   * Returns the line to log, or null when it is held back.
   */
  hit(key: string, group: string): ThrottledLine | null {
    const t = this.now();
    let k = key;
    let entry = this.entries.get(k);
    let overflow = false;
    if (entry === undefined && this.entries.size >= this.maxKeys) {
      this.sweepExpired(t);
      if (this.entries.size >= this.maxKeys) {
        k = `${group}\u0000*`;
        overflow = true;
        entry = this.entries.get(k);
      }
    }
    if (entry === undefined) {
      this.entries.set(k, { windowStart: t, suppressed: 0 });
      return { key: k, suppressed: 0, overflow };
    }
    if (t - entry.windowStart < this.windowMs) {
      entry.suppressed++;
      return null;
    }
    const suppressed = entry.suppressed;
    entry.windowStart = t;
    entry.suppressed = 0;
    return { key: k, suppressed, overflow };
  }

  /**
   * Forgets keys whose window has passed; returns those that held lines back, so the caller can log
   * the count (otherwise a burst's tail would never be reported).
   */
  flush(): ThrottledLine[] {
    const t = this.now();
    const out: ThrottledLine[] = [];
    for (const [key, entry] of this.entries) {
      if (t - entry.windowStart < this.windowMs) continue;
      if (entry.suppressed > 0) out.push({ key, suppressed: entry.suppressed, overflow: key.endsWith('\u0000*') });
      this.entries.delete(key);
    }
    return out;
  }

  /** Live keys (for tests: memory stays bounded). */
  get size(): number {
    return this.entries.size;
  }

  private sweepExpired(t: number): void {
    for (const [key, entry] of this.entries) {
      // Only keys with nothing to report may go silently; the others wait for flush().
      if (t - entry.windowStart >= this.windowMs && entry.suppressed === 0) this.entries.delete(key);
    }
  }
}
