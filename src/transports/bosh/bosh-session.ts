/**
 * The BOSH side of one session (XEP-0124 §7-§14, XEP-0206): the rid window, the held HTTP requests,
 * the queue of server elements waiting for a request to carry them, and the wait, inactivity and
 * pause timers. It knows nothing of the upstream connection: it talks to the session core through
 * a `CoreLink` (client elements in, stream open/restart, logout, vanished) and the core calls back
 * `opened`, `deliver` and `ended`. A BOSH session and a WebSocket session differ only here.
 */
import type { Attribute, ElementToken } from '../../xml/tokens';
import type { BoshCondition } from './conditions';
import { terminateStatus } from './conditions';
import type { BoshRequest } from './request';
import { bodyXml, creationBody, negotiateVersion, terminateBody } from './response';
import { RidWindow } from './rid-window';

/** One HTTP request waiting for its response. */
export interface HttpExchange {
  /** Writes the response, once; later calls are ignored. */
  respond(status: number, body: Buffer): void;
  /** True once the client's connection is gone or the response was written. */
  readonly done: boolean;
  /** Called if the client goes away before the response (a held request whose client vanished). */
  onAbort(cb: () => void): void;
}

/** What the BOSH side asks of the session core (./transport.ts implements it). */
export interface CoreLink {
  /** A request of `bytes` bytes is being processed; returns its arrival time for relay latency. */
  received(bytes: number): number;
  /** The request was handled: its bytes count against --max-bytes-per-second. */
  consumed(bytes: number): void;
  /** Opens the stream, or restarts it (XEP-0206 §5), with these stream attributes. */
  open(attrs: readonly Attribute[]): void;
  /** One standalone client element for the server. */
  element(el: ElementToken, receivedAt: number): void;
  /** type='terminate' (XEP-0124 §13): end the stream cleanly. */
  logout(): void;
  /** The BOSH session is over (answered, timed out or broken): the core's client side is closed. Once. */
  gone(detail: string): void;
  /** Bytes of server data queued for the client; the core pauses server reads above its limit. */
  backlog(bytes: number): void;
  /** Bytes written to the client. */
  sent(bytes: number): void;
}

export interface BoshLimits {
  readonly maxWaitS: number;
  readonly maxHold: number;
  readonly inactivityS: number;
  readonly maxPauseS: number;
  /** Shortest polling interval announced (XEP-0124 §7.2 `polling`), seconds. */
  readonly pollingS: number;
  /** Whether the gateway's link to the server counts as secure (XEP-0124 §7.2 `secure`). */
  readonly secure: boolean;
}

export interface BoshSessionEvents {
  /** The session is over and every request was answered: forget the sid. */
  /** `label`: the terminal condition sent, `none` for a clean end, or `inactivity`. */
  readonly onGone: (session: BoshSession, label: BoshCondition | 'none' | 'inactivity', why: string) => void;
  readonly onHeldChange: (delta: number) => void;
}

interface Held {
  readonly rid: number;
  readonly http: HttpExchange;
  timer: NodeJS.Timeout | null;
  /** The session's request count when this one arrived (see `dataSentAt`). */
  readonly seq: number;
}

interface Early {
  readonly request: BoshRequest;
  readonly http: HttpExchange;
}

const EMPTY: readonly Buffer[] = [];
/** After the session ended with no request held: how long the terminate body waits for the next request, s. */
const ENDED_GRACE_S = 10;

export class BoshSession {
  readonly sid: string;
  readonly wait: number;
  readonly hold: number;
  /** XEP-0124 §19: a client without `ver` expects HTTP error statuses. */
  readonly legacy: boolean;
  readonly createdAt = Date.now();
  requests = 0;

  private readonly window: RidWindow<Early>;
  private readonly limits: BoshLimits;
  private readonly link: CoreLink;
  private readonly events: BoshSessionEvents;
  private readonly ver: string | undefined;
  private readonly ack: boolean;
  /** `to`, `xml:lang`, `version` of the stream, repeated on every restart (XEP-0206 §5). */
  private readonly openAttrs: Attribute[];
  private held: Held[] = [];
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  /** The server's stream header arrived: the creation response can be written. */
  private server: { from: string | undefined; id: string | undefined } | null = null;
  private created = false;
  /** Requests that are next in order but wait while the core holds client reads (backpressure). */
  private stalled: Early[] = [];
  private corePaused = false;
  /** Set when the session is over: the next response is the terminate body. */
  private ending: { condition: BoshCondition | null; children: readonly Buffer[] } | null = null;
  /** The client sent `type='terminate'`: its only answer left is the empty terminate body (§13). */
  private clientTerminated = false;
  /** Server elements that arrived after the client's terminate, not delivered. */
  private undelivered = 0;
  /**
   * The request count when the last body carrying server data was written. A request that had
   * arrived by then is answered on another connection at about the same time, and the client may
   * read the two answers in either order: it must not get the terminate body (see answer()).
   */
  private dataSentAt = -1;
  private gone = false;
  private inactivityTimer: NodeJS.Timeout | null = null;
  /** The inactivity period in force: `inactivity`, or what the client asked with `pause` (§10). */
  private inactivityS: number;
  private flushScheduled = false;

  constructor(sid: string, request: BoshRequest, http: HttpExchange, limits: BoshLimits, link: CoreLink, events: BoshSessionEvents) {
    this.sid = sid;
    this.limits = limits;
    this.link = link;
    this.events = events;
    // XEP-0124 §7.1/§7.2: wait and hold are the client's, capped by ours.
    this.wait = Math.max(1, Math.min(request.wait ?? limits.maxWaitS, limits.maxWaitS));
    this.hold = Math.min(request.hold ?? 1, limits.maxHold);
    this.legacy = request.ver === undefined;
    this.ver = negotiateVersion(request.ver);
    this.ack = request.ack !== undefined && request.ack > 0;
    this.inactivityS = limits.inactivityS;
    this.window = new RidWindow<Early>(request.rid, this.hold + 1);
    this.openAttrs = [{ name: 'to', value: request.to! }, { name: 'version', value: request.xmppVersion ?? '1.0' }];
    if (request.lang !== undefined) this.openAttrs.push({ name: 'xml:lang', value: request.lang });
    this.requests = 1;
    this.addHeld(request.rid, http);
    this.creation = request;
  }

  private creation: BoshRequest | null;

  /** Opens the stream: called once the core is wired to this session. */
  start(): void {
    const request = this.creation!;
    this.creation = null;
    const at = this.link.received(request.bytes);
    this.link.open(this.openAttrs);
    for (const el of request.payload) this.link.element(el, at);
    this.link.consumed(request.bytes);
  }

  // ---------------------------------------------------------------- requests from the client

  /** A request for this session (sid matched). */
  onRequest(request: BoshRequest, http: HttpExchange): void {
    this.requests++;
    if (this.gone) {
      http.respond(terminateStatus('item-not-found', this.legacy), terminateBody('item-not-found'));
      return;
    }
    const verdict = this.window.classify(request.rid);
    if (this.ending !== null && verdict.kind !== 'cached') {
      // The session ended while no request was held: this one carries the news.
      this.addHeld(request.rid, http);
      this.flush();
      return;
    }
    switch (verdict.kind) {
      case 'in-order':
        if (this.corePaused || this.stalled.length > 0) this.stalled.push({ request, http });
        else this.process(request, http);
        this.processEarly();
        return;
      case 'early':
        if (!this.window.holdEarly(request.rid, { request, http })) {
          // The client re-sent a request that is still waiting for its predecessor: keep the newer connection.
          this.window.replaceEarly(request.rid, { request, http })?.http.respond(200, bodyXml([]));
        }
        this.stopInactivity();
        return;
      case 'held': {
        // §14.3: the client lost the connection it sent this rid on and sends it again.
        const i = this.held.findIndex((h) => h.rid === request.rid);
        if (i >= 0) {
          const old = this.held[i]!;
          const replacement: Held = { rid: request.rid, http, timer: old.timer, seq: old.seq };
          this.held[i] = replacement;
          http.onAbort(() => this.dropHeld(replacement));
          old.http.respond(200, bodyXml([]));
        } else {
          this.stalledOrEarlyRepeat(request, http);
        }
        return;
      }
      case 'cached':
        http.respond(200, verdict.response);
        return;
      case 'out-of-window':
        http.respond(terminateStatus('item-not-found', this.legacy), terminateBody('item-not-found'));
        this.abandon('item-not-found', verdict.reason);
        return;
    }
  }

  /** A repeat of a rid still waiting in the stalled list: swap in the new connection. */
  private stalledOrEarlyRepeat(request: BoshRequest, http: HttpExchange): void {
    const i = this.stalled.findIndex((s) => s.request.rid === request.rid);
    if (i >= 0) {
      this.stalled[i]!.http.respond(200, bodyXml([]));
      this.stalled[i] = { request, http };
    } else {
      http.respond(200, bodyXml([]));
    }
  }

  private processEarly(): void {
    for (;;) {
      const next = this.window.takeNext();
      if (next === undefined) return;
      if (this.corePaused || this.stalled.length > 0) this.stalled.push(next);
      else this.process(next.request, next.http);
    }
  }

  private process(request: BoshRequest, http: HttpExchange): void {
    this.window.processed(request.rid);
    this.addHeld(request.rid, http);
    if (this.ending !== null) {
      this.flush();
      return;
    }
    const at = this.link.received(request.bytes);
    if (request.restart) this.link.open(this.openAttrs);
    for (const el of request.payload) this.link.element(el, at);
    this.link.consumed(request.bytes);
    if (request.terminate) {
      // §13: the core closes the stream; ended() answers this request with type='terminate'.
      this.clientTerminated = true;
      this.link.logout();
      return;
    }
    if (request.pause !== undefined && this.limits.maxPauseS > 0) {
      // §10: answer every held request now; the session survives `pause` seconds without requests.
      this.inactivityS = Math.min(request.pause, this.limits.maxPauseS);
      this.respondAll();
      return;
    }
    this.inactivityS = this.limits.inactivityS;
    this.scheduleFlush();
  }

  private addHeld(rid: number, http: HttpExchange): void {
    const held: Held = { rid, http, timer: null, seq: this.requests };
    this.held.push(held);
    this.events.onHeldChange(1);
    this.stopInactivity();
    // XEP-0124 §7.1: the longest a request may wait for data.
    held.timer = setTimeout(() => this.answer(held, EMPTY), this.wait * 1000);
    http.onAbort(() => this.dropHeld(held));
  }

  /** A held request whose client went away: the data stays queued for the next request. */
  private dropHeld(held: Held): void {
    const i = this.held.indexOf(held);
    if (i < 0) return;
    this.held.splice(i, 1);
    if (held.timer !== null) clearTimeout(held.timer);
    this.events.onHeldChange(-1);
    this.afterAnswer();
  }

  // ---------------------------------------------------------------- data from the core

  /** The server's stream header (relayed as `<open/>` by the core): creation can be answered. */
  opened(from: string | undefined, id: string | undefined): void {
    if (this.server === null) this.server = { from, id };
    this.scheduleFlush();
  }

  /** One standalone server element for the client. */
  deliver(bytes: Buffer): void {
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.link.backlog(this.queuedBytes);
    this.scheduleFlush();
  }

  /** The core ended the session: answer with type='terminate' (and the stream error, if any). */
  ended(condition: BoshCondition | null, children: readonly Buffer[] = EMPTY): void {
    if (this.ending !== null || this.gone) return;
    this.ending = { condition, children };
    this.stalled.splice(0).forEach((s) => s.http.respond(200, bodyXml([])));
    for (const e of this.window.drainEarly()) e.http.respond(200, bodyXml([]));
    if (this.held.length > 0) this.flush();
    // A polling client is back within moments; one that is not is gone, and the core (and a drain)
    // should not wait a whole inactivity period for it.
    else this.armInactivity(Math.min(this.inactivityS, ENDED_GRACE_S));
  }

  /** The core holds client reads (upstream slow, rate limit, connecting): requests wait, unanswered. */
  setCorePaused(paused: boolean): void {
    this.corePaused = paused;
    if (paused) return;
    while (!this.corePaused && this.stalled.length > 0 && this.ending === null) {
      const next = this.stalled.shift()!;
      this.process(next.request, next.http);
    }
    this.processEarly();
  }

  // ---------------------------------------------------------------- responses

  /** Elements delivered in one tick (one TCP read holds several) leave in one response. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.ending !== null) {
      this.respondAll();
      return;
    }
    // What the server sends while closing after the client's terminate is not delivered (see respondAll).
    if (this.clientTerminated) return;
    if (!this.created) {
      if (this.server === null || this.queue.length === 0 || this.held.length === 0) return;
      this.answer(this.held[0]!, this.takeQueue());
      return;
    }
    // §11: the oldest held request carries the data; beyond `hold`, the oldest is answered empty.
    while (this.held.length > 0 && (this.queue.length > 0 || this.held.length > this.hold)) {
      this.answer(this.held[0]!, this.takeQueue());
    }
  }

  /**
   * Answers every held request, oldest first. Without an ending, the last one carries the queue.
   *
   * The terminate body never carries stanzas: clients handle them badly there. stanza.io pushes
   * them after ending its stream and fails ("stream.push() after EOF"); Strophe ignores a terminate
   * body's children.
   * - The client sent `type='terminate'`: XEP-0124 §13 asks for an empty terminate body, and the
   *   client is done reading (Strophe takes any response as its end). What the server sent after
   *   the terminate is dropped, as Prosody's own mod_bosh does, and the log line counts it.
   * - The server or the gateway ended the session: the client is still polling. The oldest held
   *   request carries the data in an ordinary body, and the terminate body goes to a request that
   *   arrived after the data left (see answer()), usually the client's next poll.
   * With no request held, everything waits for the next one.
   */
  private respondAll(): void {
    if (this.ending !== null && this.clientTerminated && this.queue.length > 0) {
      this.undelivered += this.queue.length;
      this.takeQueue();
    }
    if (this.held.length === 0) return;
    if (this.ending !== null) {
      if (this.queue.length > 0) this.answer(this.held[0]!, this.takeQueue());
      while (this.held.length > 0) this.answer(this.held[0]!, EMPTY);
      return;
    }
    while (this.held.length > 0) this.answer(this.held[0]!, this.held.length === 1 ? this.takeQueue() : EMPTY);
  }

  private takeQueue(): readonly Buffer[] {
    if (this.queue.length === 0) return EMPTY;
    const q = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.link.backlog(0);
    return q;
  }

  private answer(held: Held, children: readonly Buffer[]): void {
    const i = this.held.indexOf(held);
    if (i < 0) return;
    this.held.splice(i, 1);
    if (held.timer !== null) clearTimeout(held.timer);
    this.events.onHeldChange(-1);
    // After the end, the last held request gets the terminate body, unless it carries data or may be
    // read before the body that did (respondAll); then the next request gets it.
    const last =
      this.ending !== null && this.held.length === 0 && children.length === 0 && (this.clientTerminated || held.seq > this.dataSentAt);
    let body: Buffer;
    let status = 200;
    if (last) {
      const end = this.ending!;
      // respondAll left no data for this body: only a stream error goes in (XEP-0206 §2).
      body = terminateBody(end.condition, end.children);
      status = terminateStatus(end.condition, this.legacy);
    } else if (!this.created) {
      body = creationBody(
        {
          sid: this.sid, wait: this.wait, hold: this.hold, polling: this.limits.pollingS, inactivity: this.limits.inactivityS,
          maxpause: this.limits.maxPauseS > 0 ? this.limits.maxPauseS : undefined, ver: this.ver,
          from: this.server?.from, authid: this.server?.id, secure: this.limits.secure, ack: undefined,
        },
        children,
      );
    } else {
      // §9.2: tell the client which requests arrived when it asked for acknowledgements.
      const ack = this.ack && this.window.lastProcessed !== held.rid ? this.window.lastProcessed : undefined;
      body = bodyXml([['ack', ack]], children);
    }
    this.created = true;
    if (children.length > 0) this.dataSentAt = this.requests; // never the terminate body (see `last`)
    this.window.recordAnswer(held.rid, body);
    // Written even if the client is gone: then the repeat of this rid gets the same bytes (§14.3).
    held.http.respond(status, body);
    this.link.sent(body.length);
    if (last) {
      const dropped = this.undelivered > 0 ? `; ${this.undelivered} server element(s) after the client's terminate not delivered (XEP-0124 §13)` : '';
      this.finishGone(this.ending!.condition ?? 'none', `terminate body sent${dropped}`);
    }
    else this.afterAnswer();
  }

  private afterAnswer(): void {
    if (this.held.length === 0 && !this.gone) this.armInactivity(this.ending === null ? this.inactivityS : Math.min(this.inactivityS, ENDED_GRACE_S));
  }

  // ---------------------------------------------------------------- timers and the end

  private armInactivity(seconds = this.inactivityS): void {
    this.stopInactivity();
    // §7.1 `inactivity`: the longest the client may leave the session with no request held.
    this.inactivityTimer = setTimeout(() => {
      this.inactivityTimer = null;
      if (this.held.length > 0 || this.gone) return;
      if (this.ending !== null) this.finishGone(this.ending.condition ?? 'none', 'ended; no request came to carry the terminate body');
      else this.abandon('inactivity', `no request for ${seconds} s`);
    }, seconds * 1000);
  }

  private stopInactivity(): void {
    if (this.inactivityTimer !== null) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = null;
  }

  /** The client is gone or broke the protocol: end the core session without a goodbye to anyone. */
  private abandon(reason: 'inactivity' | 'item-not-found', why: string): void {
    if (this.gone) return;
    // Held requests learn it too; the last one answered ends the session (see answer()).
    if (reason === 'item-not-found') this.ending ??= { condition: 'item-not-found', children: EMPTY };
    this.respondAll();
    this.finishGone(reason, why);
  }

  private finishGone(label: BoshCondition | 'none' | 'inactivity', why: string): void {
    if (this.gone) return;
    this.gone = true;
    this.stopInactivity();
    for (const h of this.held.splice(0)) {
      if (h.timer !== null) clearTimeout(h.timer);
      this.events.onHeldChange(-1);
      h.http.respond(200, bodyXml([]));
    }
    for (const s of this.stalled.splice(0)) s.http.respond(200, bodyXml([]));
    for (const e of this.window.drainEarly()) e.http.respond(200, bodyXml([]));
    this.queue = [];
    this.link.gone(`BOSH session ended (${label}): ${why}`);
    this.events.onGone(this, label, why);
  }

  /** Forced end (process stopping): answer what is held and forget the session. */
  destroy(): void {
    if (!this.gone) this.finishGone('system-shutdown', 'the gateway stopped');
  }

  get heldCount(): number {
    return this.held.length;
  }

  get isGone(): boolean {
    return this.gone;
  }
}
