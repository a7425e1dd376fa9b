/**
 * One client session, whatever its transport: the core of the data path.
 *
 *   client transport ──SessionInput──▶ Session ──UpstreamLink──▶ XMPP server (RFC 6120 c2s)
 *   client transport ◀─ClientTransport─ Session ◀──serverStep──── server tokens
 *
 * The client transport (../transports/websocket/, or BOSH) turns client bytes into opens, elements
 * and closes; this core relays elements to the upstream link (./upstream-link.ts), feeds the
 * server's bytes through the tokenizer and the pure step (./server-step.ts) back to the transport,
 * gates reads in both directions (./flow.ts), keeps the deadlines, and ends through `finish()`: one
 * idempotent teardown path that executes the goodbye planned by ./goodbye.ts (see
 * ../xmpp/stream-error.ts for the table of endings).
 *
 * States: awaiting_open → connecting → open → closing → closed.
 */
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Limits } from '../limits';
import { elementKind, type Metrics, type PauseSide } from '../metrics';
import type { Dialer } from '../upstream/dialer';
import { getAttr } from '../xml/attributes';
import type { NamespaceScope } from '../xml/standalone';
import { XmlTokenizer } from '../xml/tokenizer';
import type { Attribute, ElementToken, StreamOpenToken } from '../xml/tokens';
import { traceView } from '../xmpp/redact';
import { STARTTLS_FAILURE, isClientStartTls } from '../xmpp/features';
import { streamHeaderFromOpen } from '../xmpp/stream';
import { FAILURES, type FailureCode, type StreamErrorCondition } from '../xmpp/stream-error';
import { ReadGate, TokenBucket } from './flow';
import { planGoodbye } from './goodbye';
import { serverStep } from './server-step';
import { nowSeconds, type ClientTransport, type SessionInput } from './transport';
import { UpstreamLink, type UpstreamOwner } from './upstream-link';

const STARTTLS_FAILURE_BYTES = Buffer.from(STARTTLS_FAILURE);

export type SessionState = 'awaiting_open' | 'connecting' | 'open' | 'closing' | 'closed';

export interface SessionOptions {
  readonly config: Config;
  /** The gateway's limits, derived once from `config` (../limits.ts). */
  readonly limits: Limits;
  /** The per-connection logger, created on first use (most idle sessions log only when they end). */
  readonly log: () => Logger;
  /**
   * The root logger's levels, read once per session: a line below them is never built, and most
   * sessions then never build their per-connection logger (pino's child() costs a few µs of setup).
   */
  readonly levels: LogLevels;
  readonly metrics: Metrics;
  /** The client side: the session attaches itself to it. */
  readonly transport: ClientTransport;
  /** How the server is reached (../upstream/dialer.ts), called at the client's first open. */
  readonly dialer: Dialer;
  /** The client's address after trusted proxies, and its port as the gateway saw it. */
  readonly clientAddress: string;
  readonly clientPort?: number;
  /** Called once, when both sides are closed. */
  readonly onClosed: (session: Session) => void;
}

/** Which levels are on: `trace` logs every element (through ../xmpp/redact.ts), `info` the session_closed line. */
export interface LogLevels {
  readonly trace: boolean;
  readonly debug: boolean;
  readonly info: boolean;
}

/** Why client reads are paused: upstream not there yet, upstream slow, or over the byte rate. */
type ClientPause = 'connecting' | 'upstream' | 'rate';

export class Session implements SessionInput, UpstreamOwner {
  state: SessionState = 'awaiting_open';
  readonly startedAt = Date.now();
  bytesFromClient = 0;

  private readonly config: Config;
  private readonly makeLog: () => Logger;
  private logger: Logger | null = null;
  private readonly metrics: Metrics;
  private readonly transport: ClientTransport;
  private readonly link: UpstreamLink;
  private readonly dialer: Dialer;
  private readonly clientAddress: string;
  private readonly clientPort: number | undefined;
  private readonly onClosed: (session: Session) => void;
  private readonly trace: boolean;
  private readonly debugEnabled: boolean;
  private readonly infoEnabled: boolean;

  private readonly serverTokenizer: XmlTokenizer;
  /** Namespaces declared by the server's current stream header; null until it arrives. */
  private scope: NamespaceScope | null = null;
  /**
   * The `to` of the client's latest open, for the `from` of a stream the gateway must open itself.
   * Only this string is kept: the open's attributes would keep the whole message text alive.
   */
  private domain: string | undefined = undefined;
  /** When the client's latest open arrived (for the stream-open latency), or null once answered. */
  private openSentAt: number | null = null;
  private openSentToClient = false;
  private clientClosed = false;
  /** Built at the first pause: a login never pauses client reads (see sendUpstream), nor does most traffic. */
  private clientReads: ReadGate<ClientPause> | null = null;
  private pausedUpstreamForClient = false;
  private readonly rate: TokenBucket | null;
  private rateTimer: NodeJS.Timeout | null = null;
  /** Time of the last element in either direction, for --idle-timeout. */
  private lastActivity = Date.now();
  private openTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private finished = false;
  private closedNotified = false;
  private endReason: FailureCode | null = null;
  /**
   * Set by the server's SASL `<success/>` (RFC 6120 §6.4.6), used up by the client's next open: the
   * only moment a stream restart is legitimate (STARTTLS never reaches the client).
   */
  private restartAllowed = false;
  /** Ended by a bug (INTERNAL): a later fault in the same session is logged, not counted again. */
  private internal = false;

  constructor(opts: SessionOptions) {
    this.config = opts.config;
    this.makeLog = opts.log;
    this.metrics = opts.metrics;
    this.transport = opts.transport;
    this.dialer = opts.dialer;
    this.clientAddress = opts.clientAddress;
    this.clientPort = opts.clientPort;
    this.onClosed = opts.onClosed;
    this.trace = opts.levels.trace;
    this.debugEnabled = opts.levels.debug;
    this.infoEnabled = opts.levels.info;
    this.serverTokenizer = new XmlTokenizer('stream', opts.limits.xml);
    this.link = new UpstreamLink(this, opts.limits, this.metrics);
    this.rate = this.config.maxBytesPerSecond > 0 ? new TokenBucket(this.config.maxBytesPerSecond) : null;
    // RFC 7395 §3.4: the client opens the stream; a deadline inbound traffic cannot refresh.
    this.openTimer = setTimeout(Session.timers.open, this.config.openTimeoutMs, this);
    this.transport.attach(this);
    this.debug({ event: 'connection_opened' }, 'connection opened');
  }

  private get log(): Logger {
    return (this.logger ??= this.makeLog());
  }

  /** Debug lines without building the per-connection logger when debug is off (the usual case). */
  private debug(fields: object, msg: string): void {
    if (this.debugEnabled) this.log.debug(fields, msg);
  }

  get bytesToClient(): number {
    return this.transport.bytesToClient;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  // ---------------------------------------------------------------- client → server (SessionInput)

  get acceptsClientData(): boolean {
    return !this.finished && this.state !== 'closing';
  }

  get connecting(): boolean {
    return this.state === 'connecting';
  }

  clientBytes(n: number): number {
    this.bytesFromClient += n;
    this.metrics.hot.bytes.c2s.inc(n);
    return nowSeconds();
  }

  /** --max-bytes-per-second: stop reading for as long as the client is ahead of its rate; never drop. */
  clientConsumed(n: number): void {
    if (this.rate === null || this.finished) return;
    const waitMs = this.rate.take(n);
    if (waitMs === 0 || this.rateTimer !== null) return;
    this.pauseClient('rate');
    this.rateTimer = setTimeout(Session.timers.rate, waitMs, this);
  }

  clientOpen(attrs: readonly Attribute[]): void {
    if (!this.acceptsClientData) return;
    if (this.state !== 'awaiting_open' && !this.restartAllowed) {
      this.finish('CLIENT_UNEXPECTED_RESTART', 'a stream restart is only allowed right after SASL <success/> (RFC 6120 §4.3.3, §6.4.6)');
      return;
    }
    this.domain = getAttr(attrs, 'to');
    this.openSentAt = nowSeconds();
    this.lastActivity = Date.now();
    if (this.state === 'awaiting_open') {
      clearTimeout(this.openTimer!);
      this.openTimer = null;
      this.state = 'connecting';
      this.metrics.sessions.inc({ framing: this.transport.framing });
      this.link.sendHeader(streamHeaderFromOpen(attrs));
      this.link.dial(this.dialer, { domain: this.domain, clientAddress: this.clientAddress, clientPort: this.clientPort });
      return;
    }
    // RFC 7395 §3.7 / RFC 6120 §4.3.3: a later open restarts the stream on the same TCP connection,
    // and only after SASL success. Any other open is the client's error: relaying it would make the
    // gateway read the server's next stanza as a stream header and blame the server.
    this.restartAllowed = false;
    // The server answers with a new XML declaration and header, a new document for the tokenizer.
    this.serverTokenizer.restart();
    this.scope = null;
    this.sendUpstream(Buffer.from(streamHeaderFromOpen(attrs), 'utf8'), -1);
  }

  clientElement(el: ElementToken, receivedAt: number): void {
    if (!this.acceptsClientData) return;
    if (this.state === 'awaiting_open') {
      this.finish('FIRST_NOT_OPEN', `the first message must open the stream (<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>), got <${el.name}>`);
      return;
    }
    if (this.trace) this.log.trace({ event: 'xml_in', xml: traceView(el.name, el.bytes) }, 'client element');
    if (isClientStartTls(el)) {
      // Never offered and never relayed (TLS is the client transport's business, RFC 7395 §3.9):
      // RFC 6120 §5.4.2.2 says <failure/>, then the stream is closed.
      this.transport.serverElement(STARTTLS_FAILURE_BYTES);
      this.finish('CLIENT_STARTTLS', 'client sent <starttls/>, which this gateway never offers');
      return;
    }
    this.lastActivity = Date.now();
    this.metrics.hot.elements.c2s[elementKind(el.name)].inc();
    this.metrics.hot.size.c2s.observe(el.bytes.length);
    this.sendUpstream(el.bytes, receivedAt);
  }

  private sendUpstream(bytes: Buffer, receivedAt: number): void {
    switch (this.link.send(bytes)) {
      case 'full':
        this.finish('CLIENT_FLOOD_BEFORE_READY', `more than ${this.config.preConnectQueueMessages} messages or ${this.config.preConnectQueueBytes} bytes before the server connection was ready`);
        return;
      case 'slow':
        // The server reads slower than the client writes: stop reading the client until 'drain'.
        this.pauseClient('upstream');
        break;
      case 'ok':
        // Queued while the server is not reachable yet: read no more client data than the bounded
        // queue holds until it is. Paused only now, not at the open: a client that waits for the
        // server's answer, as every login does, never costs a pause and resume.
        if (!this.link.isConnected) this.pauseClient('connecting');
        break;
    }
    if (receivedAt >= 0 && this.link.isConnected) this.metrics.hot.relay.c2s.observe(nowSeconds() - receivedAt);
  }

  /** RFC 7395 §3.6: the client closes; the server gets `</stream:stream>` and a bounded time to answer. */
  clientClose(): void {
    if (!this.acceptsClientData) return;
    this.endReason = 'CLIENT_CLOSED';
    if (!this.link.isConnected) {
      this.finish('CLIENT_CLOSED', 'client closed before the server connection was ready');
      return;
    }
    this.state = 'closing';
    this.link.footer();
    this.closeTimer = setTimeout(Session.timers.close, this.config.closeTimeoutMs, this);
  }

  clientGone(detail: string): void {
    // Recorded first, so the session is released whatever happens below.
    this.clientClosed = true;
    // Without a close first: a lost connection, not a logout (RFC 7395 §3.6).
    if (!this.finished) this.finish(this.endReason === 'CLIENT_CLOSED' ? 'CLIENT_CLOSED' : 'CLIENT_GONE', detail);
    this.maybeClosed();
  }

  fail(code: FailureCode, text: string): void {
    this.finish(code, text);
  }

  clientDrained(): void {
    if (!this.pausedUpstreamForClient || this.finished) return;
    this.pausedUpstreamForClient = false;
    this.link.resume();
    this.debug({ event: 'backpressure_resume', side: 'tcp' }, 'client caught up: resuming server reads');
  }

  /**
   * A bug must end one session, never the process: the stack is logged, the client gets
   * `internal-server-error` and close 1011, the error is counted, and every other session goes on.
   */
  crashed(err: unknown, where: string, clientGone = false): void {
    if (clientGone) this.clientClosed = true;
    const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
    if (!this.finished) {
      try {
        this.log.error({ event: 'internal_error', where, err: stack }, `internal error in ${where}`);
        this.finish('INTERNAL', `internal error in ${where}`);
        return;
      } catch (again) {
        this.teardownFailed(again);
        return;
      }
    }
    // Ended already: an entry point failed after the goodbye, or the goodbye itself was interrupted.
    // Counted once per session: a session that already ended as INTERNAL only logs the repeat.
    if (!this.internal) this.metrics.streamError('internal-server-error', 'gateway');
    this.teardownFailed(err);
  }

  /** Last resort when the goodbye cannot run: drop both sides without one, and let the gateway forget the session. */
  private teardownFailed(err: unknown): void {
    this.finished = true;
    this.internal = true;
    this.state = 'closed';
    try {
      this.log.error({ event: 'internal_error', where: 'teardown', err: err instanceof Error ? err.stack : String(err) }, 'internal error during teardown');
    } catch {
      // Logging is broken too; the sockets still go below.
    }
    for (const drop of [() => this.transport.destroy(), () => this.link.destroy()]) {
      try {
        drop();
      } catch {
        // Nothing more can be done for this connection.
      }
    }
    this.clientClosed = true;
    this.maybeClosed();
  }

  private pauseClient(reason: ClientPause): void {
    this.clientReads ??= new ReadGate<ClientPause>(() => this.transport.pauseIntake(), () => this.transport.resumeIntake());
    if (this.clientReads.hold(reason) && reason !== 'connecting') {
      const side: PauseSide = reason === 'rate' ? 'rate_limit' : 'ws';
      this.metrics.pauses.inc({ side });
      this.debug({ event: 'backpressure_pause', side }, reason === 'rate' ? 'client over its byte rate: pausing client reads' : 'server is slow: pausing client reads');
    }
  }

  private resumeClient(reason: ClientPause): void {
    if (this.finished) return;
    if (this.clientReads !== null && this.clientReads.release(reason) && reason !== 'connecting') {
      this.debug({ event: 'backpressure_resume', side: reason === 'rate' ? 'rate_limit' : 'ws' }, 'resuming client reads');
    }
  }

  // ---------------------------------------------------------------- upstream (UpstreamOwner)

  upstreamReady(target: string): void {
    if (this.finished) return;
    if (this.state === 'connecting') this.state = 'open';
    this.debug({ event: 'upstream_connected', upstream: target }, 'upstream connected');
    this.resumeClient('connecting');
  }

  upstreamFailed(code: FailureCode, text: string): void {
    if (!this.finished) this.finish(code, text);
    this.maybeClosed();
  }

  upstreamDrained(): void {
    this.resumeClient('upstream');
  }

  upstreamEnded(detail: string): void {
    if (this.finished) return;
    if (!this.openSentToClient) {
      this.finish('UPSTREAM_CONNECT_FAILED', `${detail} before sending a stream header`);
      return;
    }
    this.finish(this.endReason ?? 'UPSTREAM_CLOSED', detail);
  }

  upstreamClosed(): void {
    this.maybeClosed();
  }

  // ---------------------------------------------------------------- server → client

  upstreamData(chunk: Buffer): void {
    if (this.finished) return;
    const receivedAt = nowSeconds();
    this.metrics.hot.bytes.s2c.inc(chunk.length);
    const { tokens, error } = this.serverTokenizer.feed(chunk);
    // One TCP read often holds several elements: each still goes to the client on its own, but
    // the transport may gather them into one write.
    const cork = tokens.length > 1;
    if (cork) this.transport.cork();
    try {
      for (const token of tokens) {
        if (this.finished) return;
        const step = serverStep(token, this.scope, this.transport.standaloneElements);
        if (Buffer.isBuffer(step)) {
          this.relay(token as ElementToken, step, receivedAt);
          continue;
        }
        switch (step.kind) {
          case 'open':
            this.scope = step.scope;
            this.serverOpened(token as StreamOpenToken);
            break;
          case 'element':
            if (step.streamError !== null) this.serverStreamError(step.streamError);
            if (step.saslSuccess) this.restartAllowed = true;
            this.relay(token as ElementToken, step.bytes, receivedAt);
            break;
          case 'end':
            // The server ended its stream (RFC 6120 §4.4): end ours the same way.
            this.finish(this.endReason ?? 'UPSTREAM_CLOSED', 'server closed the stream');
            return;
          case 'bad-xml':
            this.failUpstreamXml(step.condition, step.text);
            return;
          case 'requires-tls':
            this.log.error(
              { event: 'upstream_requires_starttls', upstream: this.link.target },
              'the XMPP server requires STARTTLS but --upstream-tls is none: use --upstream-tls auto (the default) or starttls',
            );
            this.finish('UPSTREAM_REQUIRES_TLS', 'the XMPP server requires STARTTLS on its c2s port, and the gateway was told not to use TLS upstream');
            return;
        }
      }
    } finally {
      if (cork) this.transport.uncork();
    }
    if (error !== null && !this.finished) this.failUpstreamXml(error.condition, error.text);
  }

  private serverOpened(header: StreamOpenToken): void {
    this.transport.serverOpen(header);
    this.openSentToClient = true;
    if (this.openSentAt !== null) {
      this.metrics.hot.streamOpen.observe(nowSeconds() - this.openSentAt);
      this.openSentAt = null;
    }
  }

  private serverStreamError(condition: StreamErrorCondition): void {
    this.endReason = 'UPSTREAM_STREAM_ERROR';
    this.metrics.streamError(condition, 'server');
    this.log.info({ event: 'upstream_stream_error', condition }, `server sent stream error ${condition}`);
  }

  private relay(el: ElementToken, bytes: Buffer, receivedAt: number): void {
    if (this.trace) this.log.trace({ event: 'xml_out', xml: traceView(el.name, bytes) }, 'server element');
    this.lastActivity = Date.now();
    this.metrics.hot.elements.s2c[elementKind(el.name)].inc();
    this.metrics.hot.size.s2c.observe(bytes.length);
    this.transport.serverElement(bytes);
    this.metrics.hot.relay.s2c.observe(nowSeconds() - receivedAt);
    if (!this.pausedUpstreamForClient && this.transport.congested) {
      // The client reads slower than the server writes: stop reading the server until it catches up.
      this.pausedUpstreamForClient = true;
      this.link.pause();
      this.metrics.pauses.inc({ side: 'tcp' });
      this.debug({ event: 'backpressure_pause', side: 'tcp' }, 'client is slow: pausing server reads');
    }
  }

  /** The server's XML cannot be relayed: tell the server precisely, the client generically. */
  private failUpstreamXml(condition: StreamErrorCondition, text: string): void {
    this.link.streamError(condition, text);
    this.finish('UPSTREAM_BAD_XML', `server sent XML the gateway cannot relay (${condition}): ${text}`);
  }

  // ---------------------------------------------------------------- deadlines and stopping

  /** Called by the gateway's sweep every --ping-interval: keepalive and idle timeout. */
  heartbeat(now = Date.now()): void {
    if (this.finished) return;
    try {
      if (!this.transport.alive) {
        this.finish('PING_TIMEOUT', `no pong within ${this.config.pingIntervalMs} ms`);
        return;
      }
      if (this.config.idleTimeoutMs > 0 && now - this.lastActivity >= this.config.idleTimeoutMs) {
        this.finish('IDLE_TIMEOUT', `no XMPP traffic for ${this.config.idleTimeoutMs} ms`);
        return;
      }
      this.transport.ping();
    } catch (err) {
      this.crashed(err, 'heartbeat');
    }
  }

  /**
   * Ends the session because the gateway stops: `<close see-other-uri>` when a redirect is
   * configured (RFC 7395 §3.6.1), otherwise a system-shutdown stream error.
   */
  shutdown(): void {
    this.guard('shutdown', () => {
      if (this.config.redirectUri !== null) this.finish('SHUTDOWN_REDIRECT', `gateway shutting down; reconnect to ${this.config.redirectUri}`);
      else this.finish('SHUTDOWN', 'gateway shutting down');
    });
  }

  /** Last resort (forced shutdown): drop both connections now, without any goodbye. */
  destroy(): void {
    this.guard('forced shutdown', () => {
      this.finish('SHUTDOWN', 'forced shutdown');
      this.transport.destroy();
      this.link.destroy();
    });
  }

  /** Timer callbacks, shared by all sessions (no closure per session); each is a guarded entry point. */
  private static readonly timers = {
    open(session: Session): void {
      session.guard('open timer', () => session.finish('OPEN_TIMEOUT', `no <open/> within ${session.config.openTimeoutMs} ms`));
    },
    close(session: Session): void {
      session.guard('close timer', () => session.finish('CLIENT_CLOSED', `server did not close its stream within ${session.config.closeTimeoutMs} ms`));
    },
    rate(session: Session): void {
      session.guard('rate timer', () => {
        session.rateTimer = null;
        session.resumeClient('rate');
      });
    },
  };

  private guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.crashed(err, where);
    }
  }

  // ---------------------------------------------------------------- teardown

  /**
   * The single teardown path: the goodbye planned by ./goodbye.ts, the client half rendered by the
   * transport, the upstream half by the link. Timers are cleared; later events are ignored.
   */
  finish(code: FailureCode, text: string): void {
    if (this.finished) return;
    this.finished = true;
    this.internal = code === 'INTERNAL';
    const failure = FAILURES[code];
    this.state = 'closed';
    for (const timer of [this.openTimer, this.closeTimer, this.rateTimer]) if (timer !== null) clearTimeout(timer);
    this.openTimer = this.closeTimer = this.rateTimer = null;
    if (failure.condition !== null) this.metrics.streamError(failure.condition, failure.origin);

    const plan = planGoodbye(code, text, { openSentToClient: this.openSentToClient, redirectUri: this.config.redirectUri, domain: this.domain });
    this.transport.goodbye(plan.client);
    this.link.close(plan.upstream, this.config.closeTimeoutMs);

    const durationMs = Date.now() - this.startedAt;
    this.metrics.sessionDuration.observe({ reason: failure.event }, durationMs / 1000);
    if (this.infoEnabled) this.logClosed(code, text, durationMs);
    this.maybeClosed();
  }

  /** The session_closed line (info): why, how long, how many bytes; the text only for the gateway's or client's errors. */
  private logClosed(code: FailureCode, text: string, durationMs: number): void {
    const failure = FAILURES[code];
    const fields = {
      event: 'session_closed', reason: failure.event, condition: failure.condition, origin: failure.origin,
      ws_close_code: failure.wsCloseCode, duration_s: durationMs / 1000, bytes_in: this.bytesFromClient, bytes_out: this.transport.bytesToClient,
    };
    if (failure.condition !== null && failure.origin !== 'server' && code !== 'SHUTDOWN') this.log.info({ ...fields, text }, 'session closed with stream error');
    else this.log.info(fields, 'session closed');
  }

  private maybeClosed(): void {
    if (!this.finished || this.closedNotified) return;
    if (this.clientClosed && this.link.isDone) {
      this.closedNotified = true;
      this.onClosed(this);
    }
  }
}
