/**
 * The request-id window of one BOSH session (XEP-0124 §14). Pure state, no I/O or timers.
 *
 * - Requests are processed strictly in rid order. One that arrives early (its predecessor is still
 *   on the way over another HTTP connection) waits here until the gap fills (§14.2).
 * - The window is `requests` (hold + 1) wide: a rid more than that above the last processed one
 *   cannot come from a well-behaved client and ends the session with item-not-found (§14.1).
 * - A rid that was already answered is answered again with the very same body, for as long as it
 *   is among the last `requests` answered (§14.3: the client lost the response, e.g. the HTTP
 *   connection broke). Older repeats are item-not-found.
 * - A repeated rid that is processed but not answered yet (it is held) replaces the held HTTP
 *   request: the client's first connection for it is most likely gone.
 */

export type RidVerdict<T> =
  | { readonly kind: 'in-order' }
  | { readonly kind: 'early' }
  | { readonly kind: 'held' }
  | { readonly kind: 'cached'; readonly response: T }
  | { readonly kind: 'out-of-window'; readonly reason: string };

export class RidWindow<Early, Response = Buffer> {
  /** Highest rid processed; every lower rid was processed before it. */
  private last: number;
  private readonly early = new Map<number, Early>();
  /** rid → response, the last `size` answered, oldest first (Map keeps insertion order). */
  private readonly answered = new Map<number, Response>();
  private readonly unanswered = new Set<number>();

  /**
   * @param firstRid the rid of the session creation request, processed by creating the session
   * @param size `requests` (hold + 1): the width of the window and of the response cache
   */
  constructor(firstRid: number, private readonly size: number) {
    this.last = firstRid;
    this.unanswered.add(firstRid);
  }

  get lastProcessed(): number {
    return this.last;
  }

  /** Requests waiting for a lower rid to arrive. */
  get earlyCount(): number {
    return this.early.size;
  }

  classify(rid: number): RidVerdict<Response> {
    if (rid === this.last + 1) return { kind: 'in-order' };
    if (rid > this.last + 1) {
      if (rid > this.last + this.size) return { kind: 'out-of-window', reason: `rid ${rid} is more than ${this.size} above the last processed rid ${this.last}` };
      return { kind: 'early' };
    }
    if (this.unanswered.has(rid)) return { kind: 'held' };
    const response = this.answered.get(rid);
    if (response !== undefined) return { kind: 'cached', response };
    return { kind: 'out-of-window', reason: `rid ${rid} was answered too long ago to be repeated (the last ${this.size} are kept)` };
  }

  /** Keeps an early request; false if that rid is already waiting (the caller answers the newer one). */
  holdEarly(rid: number, item: Early): boolean {
    if (this.early.has(rid)) return false;
    this.early.set(rid, item);
    return true;
  }

  /** Replaces a waiting early request with a re-sent copy; returns the one it replaced. */
  replaceEarly(rid: number, item: Early): Early | undefined {
    const old = this.early.get(rid);
    this.early.set(rid, item);
    return old;
  }

  /** Records that `rid` (the next in order) was processed. */
  processed(rid: number): void {
    if (rid !== this.last + 1) throw new Error(`rid ${rid} processed out of order (last ${this.last})`);
    this.last = rid;
    this.unanswered.add(rid);
  }

  /** The early request that is now next in order, if it has arrived; removed from the window. */
  takeNext(): Early | undefined {
    const next = this.early.get(this.last + 1);
    if (next !== undefined) this.early.delete(this.last + 1);
    return next;
  }

  /** Records the response to `rid`, so a repeat gets the same bytes. */
  recordAnswer(rid: number, response: Response): void {
    this.unanswered.delete(rid);
    this.answered.set(rid, response);
    while (this.answered.size > this.size) this.answered.delete(this.answered.keys().next().value!);
  }

  /** Every early request, removed (the session ends; their HTTP requests still need an answer). */
  drainEarly(): Early[] {
    const items = [...this.early.values()];
    this.early.clear();
    return items;
  }
}
