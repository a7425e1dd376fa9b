/**
 * One client: a WebSocket speaking RFC 7395 on one side, a TCP c2s stream (RFC 6120) on the other.
 *
 * This is the only file that wires the pieces together: the tokenizers split bytes into elements,
 * ../framing/rfc7395.ts rewrites the stream edges, ../xmpp/features.ts hides STARTTLS, ./flow.ts
 * gates reads, and every way of ending goes through `finish()` — one idempotent teardown path (see
 * ../xmpp/stream-error.ts for the table of endings).
 *
 * States: awaiting_open → connecting → open → closing → closed.
 */
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { elementKind, type Metrics, type PauseSide } from '../metrics';
import { connectUpstream, type ConnectOutcome } from '../upstream/connect';
import type { ConnectPacer } from '../upstream/connect-pacer';
import { XmlTokenizer } from '../xml/tokenizer';
import type { MessageTokenizer } from '../xml/message-tokenizer';
import type { Attribute, ElementToken, Token, TokenizerError } from '../xml/tokens';
import {
  STREAM_FOOTER,
  classifyClientElement,
  closeElement,
  getAttr,
  namespaceScope,
  openElement,
  openFromStreamHeader,
  streamHeaderFromOpen,
  toStandaloneElement,
  type NamespaceScope,
} from '../framing/rfc7395';
import { LEGACY_FOOTER, classifyLegacyMessage, legacyStreamHeader } from '../framing/legacy';
import { rewriteFeatures } from '../xmpp/features';
import { NS_STREAMS } from '../xmpp/namespaces';
import { traceView } from '../xmpp/redact';
import {
  FAILURES,
  WS_CLOSE,
  streamErrorConditionOf,
  streamErrorXml,
  type Failure,
  type FailureCode,
  type StreamErrorCondition,
} from '../xmpp/stream-error';
import { ReadGate, TokenBucket } from './flow';

export type SessionState = 'awaiting_open' | 'connecting' | 'open' | 'closing' | 'closed';

export interface SessionOptions {
  readonly config: Config;
  /** The per-connection logger, created on first use (most idle sessions log only when they end). */
  readonly log: () => Logger;
  /** Log every element at trace level (through ../xmpp/redact.ts). */
  readonly trace: boolean;
  /** Debug level enabled on the root logger. */
  readonly debug: boolean;
  readonly metrics: Metrics;
  /** The gateway's shared tokenizer for whole client messages. */
  readonly messages: MessageTokenizer;
  readonly ws: WebSocket;
  /** The upgraded HTTP socket under `ws`: its 'drain' tells when the client caught up. */
  readonly socket: Duplex;
  /** Called once, when both sides are closed. */
  readonly onClosed: (session: Session) => void;
  /** The gateway's --upstream-connect-rate, shared by all sessions; absent = connect at once. */
  readonly connectPacer?: ConnectPacer;
}

const TEXT = { binary: false } as const;

/** Why client reads are paused: upstream not there yet, upstream slow, or over the byte rate. */
type ClientPause = 'connecting' | 'upstream' | 'rate';

/** Maps what is wrong with client input (a tokenizer error, or a bad legacy header) to the failure it causes. */
function clientFailure(condition: TokenizerError['condition'] | 'invalid-namespace'): FailureCode {
  switch (condition) {
    case 'restricted-xml':
      return 'CLIENT_RESTRICTED_XML';
    case 'policy-violation':
      return 'CLIENT_TOO_BIG';
    case 'invalid-namespace':
      return 'BAD_FRAMING_NAMESPACE';
    default:
      return 'CLIENT_NOT_WELL_FORMED';
  }
}

/** Is `el` `<local>` in the streams namespace, given the header's scope? (`stream:error`, `stream:features`) */
function isStreamsElement(el: ElementToken, local: string, scope: NamespaceScope): boolean {
  const colon = el.name.indexOf(':');
  if (el.name.slice(colon + 1) !== local) return false;
  const prefix = colon < 0 ? '' : el.name.slice(0, colon);
  const ns = getAttr(el.attrs, prefix === '' ? 'xmlns' : `xmlns:${prefix}`) ?? scope.get(prefix);
  return ns === NS_STREAMS;
}

const nowSeconds = (): number => performance.now() / 1000;

/** The back-reference from a session's emitters (WebSocket, its socket, the upstream socket) to it. */
const kSession = Symbol('xmpp-ws-gateway.session');
type Owned = { [kSession]?: Session };
/** The session an emitter belongs to (set before any listener is attached). */
const owner = (emitter: unknown): Session => (emitter as Owned)[kSession]!;

export class Session {
  state: SessionState = 'awaiting_open';
  readonly startedAt = Date.now();
  bytesFromClient = 0;
  bytesToClient = 0;

  private readonly config: Config;
  private readonly makeLog: () => Logger;
  private logger: Logger | null = null;
  private readonly metrics: Metrics;
  private readonly messages: MessageTokenizer;
  private readonly ws: WebSocket;
  private readonly wsSocket: Duplex;
  private readonly onClosed: (session: Session) => void;
  private readonly trace: boolean;
  private readonly debugEnabled: boolean;

  private upstream: net.Socket | null = null;
  private upstreamConnected = false;
  private upstreamClosed = false;
  private wsClosed = false;
  private readonly serverTokenizer: XmlTokenizer;
  /** Namespaces declared by the server's current stream header; null until it arrives. */
  private scope: NamespaceScope | null = null;
  /** Attributes of the client's latest `<open/>`, used if the gateway must write `<open/>` itself. */
  private openAttrs: readonly Attribute[] = [];
  /** When the client's latest `<open/>` arrived (for the stream-open latency), or null once answered. */
  private openSentAt: number | null = null;
  private openSentToClient = false;
  /** Older framing (a `<stream:stream>` message, see ../framing/legacy.ts): relay without the RFC 7395 rewrite. */
  private legacy = false;
  /**
   * Legacy framing: the server's stream header, held until the element after it (RFC 6120 §4.3.2: the
   * features) so both go in one message. Tsung waits for one message per request (ack="local"); with
   * the header alone it would take the features as the answer to its next request.
   */
  private legacyHeader: Buffer | null = null;
  private footerSentUpstream = false;
  /** Client data held while upstream connects: bounded in bytes and messages. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly clientReads: ReadGate<ClientPause>;
  /**
   * Messages ws delivered after reads were paused: pausing stops the socket, but ws still emits what
   * it already parsed from the last read (up to one read's worth). They wait here, in order, so a
   * pause really holds data back (rate limit, slow server) instead of relaying one more read.
   */
  private deferred: Array<{ data: Buffer; isBinary: boolean }> = [];
  private deferredBytes = 0;
  private pausedUpstreamForClient = false;
  private readonly rate: TokenBucket | null;
  private rateTimer: NodeJS.Timeout | null = null;
  /** Cleared by the ping sweep, set by a pong (RFC 6455 §5.5.2). */
  alive = true;
  /** Time of the last element in either direction, for --idle-timeout. */
  private lastActivity = Date.now();
  private openTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private finished = false;
  private closedNotified = false;
  private endReason: FailureCode | null = null;
  private readonly connectPacer: ConnectPacer | undefined;

  constructor(opts: SessionOptions) {
    this.config = opts.config;
    this.makeLog = opts.log;
    this.metrics = opts.metrics;
    this.messages = opts.messages;
    this.ws = opts.ws;
    this.wsSocket = opts.socket;
    this.onClosed = opts.onClosed;
    this.connectPacer = opts.connectPacer;
    this.trace = opts.trace;
    this.debugEnabled = opts.debug;
    this.serverTokenizer = new XmlTokenizer('stream', { maxElementBytes: this.config.maxStanzaSize, maxDepth: this.config.maxDepth });
    this.clientReads = new ReadGate<ClientPause>(() => this.ws.pause(), () => this.onClientReadsResumed());
    this.rate = this.config.maxBytesPerSecond > 0 ? new TokenBucket(this.config.maxBytesPerSecond) : null;

    // Shared listener functions find their session through a symbol on the emitter (ws does the
    // same with its sockets): no closures per session, which matters with tens of thousands idle.
    (this.ws as unknown as Owned)[kSession] = this;
    (this.wsSocket as unknown as Owned)[kSession] = this;
    this.ws.on('message', Session.listeners.wsMessage);
    this.ws.on('pong', Session.listeners.wsPong);
    this.ws.on('error', Session.listeners.wsError);
    this.ws.on('close', Session.listeners.wsClose);
    this.wsSocket.on('drain', Session.listeners.wsDrain);
    // RFC 7395 §3.4: the client opens the stream; a deadline inbound traffic cannot refresh.
    this.openTimer = setTimeout(() => {
      this.finish('OPEN_TIMEOUT', `no <open/> within ${this.config.openTimeoutMs} ms`);
    }, this.config.openTimeoutMs);
    this.debug({ event: 'connection_opened' }, 'connection opened');
  }

  private get log(): Logger {
    return (this.logger ??= this.makeLog());
  }

  /** Debug lines without building the per-connection logger when debug is off (the usual case). */
  private debug(fields: object, msg: string): void {
    if (this.debugEnabled) this.log.debug(fields, msg);
  }

  // ---------------------------------------------------------------- client → server

  private onClientMessage(data: Buffer, isBinary: boolean): void {
    if (!this.acceptsClientData()) return;
    if (this.clientReads.paused) {
      this.deferred.push({ data, isBinary });
      this.deferredBytes += data.length;
      // While connecting, held messages count against the pre-connect bounds like queued elements.
      if (this.clientReads.isHeld('connecting') && (this.deferred.length > this.config.preConnectQueueMessages || this.deferredBytes > this.config.preConnectQueueBytes)) {
        this.finish('CLIENT_FLOOD_BEFORE_READY', `more than ${this.config.preConnectQueueMessages} messages or ${this.config.preConnectQueueBytes} bytes before the server connection was ready`);
      }
      return;
    }
    this.processClientMessage(data, isBinary);
  }

  /** The last pause reason is gone: first the held messages, in order (each may pause again), then the socket. */
  private onClientReadsResumed(): void {
    while (this.deferred.length > 0 && !this.clientReads.paused && this.acceptsClientData()) {
      const { data, isBinary } = this.deferred.shift()!;
      this.deferredBytes -= data.length;
      this.processClientMessage(data, isBinary);
    }
    if (!this.clientReads.paused) this.ws.resume();
  }

  private processClientMessage(data: Buffer, isBinary: boolean): void {
    const receivedAt = nowSeconds();
    this.bytesFromClient += data.length;
    this.metrics.hot.bytes.c2s.inc(data.length);
    if (isBinary) {
      this.finish('CLIENT_BINARY', 'binary WebSocket messages are not allowed (RFC 7395 §3.2)');
      return;
    }
    if (data.length > this.config.maxStanzaSize) {
      this.finish('CLIENT_TOO_BIG', `message of ${data.length} bytes exceeds the ${this.config.maxStanzaSize}-byte stanza limit`);
      return;
    }
    if (this.legacy || this.state === 'awaiting_open') {
      if (this.onLegacyMessage(data)) {
        this.throttle(data.length);
        return;
      }
      if (this.finished) return;
    }
    // A message is accepted or rejected whole: nothing of a bad message goes upstream.
    const { tokens, error } = this.messages.tokenize(data);
    if (error !== null) {
      this.finish(clientFailure(error.condition), error.text);
      return;
    }
    for (const token of tokens) {
      if (!this.acceptsClientData()) return;
      if (token.kind === 'element') this.onClientElement(token, receivedAt);
    }
    this.throttle(data.length);
  }

  /**
   * Legacy framing: a `<stream:stream>` header message opens (or restarts) the stream, a
   * `</stream:stream>` message closes it. Returns true when the message was handled here.
   */
  private onLegacyMessage(data: Buffer): boolean {
    const legacy = classifyLegacyMessage(data, this.config.maxStanzaSize);
    switch (legacy.kind) {
      case 'other':
        return false;
      case 'invalid':
        this.finish(clientFailure(legacy.condition), legacy.text);
        return true;
      case 'footer':
        if (!this.legacy) return false;
        this.onClientCloseElement();
        return true;
      case 'header':
        if (this.state === 'awaiting_open') {
          if (this.config.legacyFraming === 'off') {
            this.finish('BAD_FRAMING_NAMESPACE', 'a <stream:stream> header is not RFC 7395 framing; send <open/> (legacy framing is off)');
            return true;
          }
          this.legacy = true;
        }
        this.onClientOpen(legacy.attrs);
        return true;
    }
  }

  /** --max-bytes-per-second: stop reading for as long as the client is ahead of its rate; never drop. */
  private throttle(bytes: number): void {
    if (this.rate === null || this.finished) return;
    const waitMs = this.rate.take(bytes);
    if (waitMs === 0 || this.rateTimer !== null) return;
    this.pauseClient('rate');
    this.rateTimer = setTimeout(() => {
      this.rateTimer = null;
      this.resumeClient('rate');
    }, waitMs);
  }

  /** After `<close/>` (RFC 7395 §3.6) or teardown, further client data is ignored. */
  private acceptsClientData(): boolean {
    return !this.finished && this.state !== 'closing';
  }

  private onClientElement(el: ElementToken, receivedAt: number): void {
    const kind = classifyClientElement(el);
    if (this.state === 'awaiting_open' && kind.kind !== 'open') {
      if (kind.kind === 'bad-framing') this.finish('BAD_FRAMING_NAMESPACE', kind.detail);
      else this.finish('FIRST_NOT_OPEN', `the first message must be <open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>, got <${el.name}>`);
      return;
    }
    if (this.trace) this.log.trace({ event: 'xml_in', xml: traceView(el.name, el.bytes) }, 'client element');
    switch (kind.kind) {
      case 'open':
        this.onClientOpen(kind.attrs);
        return;
      case 'close':
        this.onClientCloseElement();
        return;
      case 'bad-framing':
        this.finish('BAD_FRAMING_NAMESPACE', kind.detail);
        return;
      case 'stanza':
        this.lastActivity = Date.now();
        this.metrics.hot.elements.c2s[elementKind(el.name)].inc();
        this.metrics.hot.size.c2s.observe(el.bytes.length);
        this.sendUpstream(el.bytes);
        if (this.upstreamConnected) this.metrics.hot.relay.c2s.observe(nowSeconds() - receivedAt);
        return;
    }
  }

  private onClientOpen(attrs: readonly Attribute[]): void {
    this.openAttrs = attrs;
    this.openSentAt = nowSeconds();
    this.lastActivity = Date.now();
    if (this.state === 'awaiting_open') {
      clearTimeout(this.openTimer!);
      this.openTimer = null;
      this.state = 'connecting';
      this.metrics.sessions.inc({ framing: this.legacy ? 'legacy' : 'rfc7395' });
      this.sendUpstream(Buffer.from(streamHeaderFromOpen(attrs), 'utf8'));
      this.connect();
      return;
    }
    // RFC 7395 §3.7 / RFC 6120 §4.3.3: a later <open/> restarts the stream on the same TCP connection;
    // the server answers with a new XML declaration and header, a new document for the tokenizer.
    this.serverTokenizer.restart();
    this.scope = null;
    this.sendUpstream(Buffer.from(streamHeaderFromOpen(attrs), 'utf8'));
  }

  /** RFC 7395 §3.6: the client closes; the server gets `</stream:stream>` and a bounded time to answer. */
  private onClientCloseElement(): void {
    this.endReason = 'CLIENT_CLOSED';
    if (!this.upstreamConnected) {
      this.finish('CLIENT_CLOSED', 'client closed before the server connection was ready');
      return;
    }
    this.state = 'closing';
    this.sendFooterUpstream();
    this.closeTimer = setTimeout(() => {
      this.finish('CLIENT_CLOSED', `server did not close its stream within ${this.config.closeTimeoutMs} ms`);
    }, this.config.closeTimeoutMs);
  }

  private sendUpstream(bytes: Buffer): void {
    if (!this.upstreamConnected) {
      // Bounded pre-connect queue, in bytes and in messages (hocuspocus GHSA-xwhh-v746-pj9m: a client
      // must not grow memory while the server is not there yet). The stream header is not counted.
      const isHeader = this.pending.length === 0;
      if (!isHeader && (this.pending.length > this.config.preConnectQueueMessages || this.pendingBytes + bytes.length > this.config.preConnectQueueBytes)) {
        this.finish('CLIENT_FLOOD_BEFORE_READY', `more than ${this.config.preConnectQueueMessages} messages or ${this.config.preConnectQueueBytes} bytes before the server connection was ready`);
        return;
      }
      this.pending.push(bytes);
      if (!isHeader) this.pendingBytes += bytes.length;
      return;
    }
    const up = this.upstream!;
    if (!this.upstreamCorked) {
      // ws emits every message of one TCP read in the same tick: gather their elements into one
      // write to the server, flushed before any I/O happens.
      this.upstreamCorked = true;
      up.cork();
      process.nextTick(this.uncorkUpstream);
    }
    if (!up.write(bytes)) {
      // The server reads slower than the client writes: stop reading the WebSocket until 'drain'.
      this.pauseClient('upstream');
    }
  }

  private upstreamCorked = false;
  private readonly uncorkUpstream = (): void => {
    this.upstreamCorked = false;
    this.upstream?.uncork();
  };

  private pauseClient(reason: ClientPause): void {
    if (this.clientReads.hold(reason) && reason !== 'connecting') {
      const side: PauseSide = reason === 'rate' ? 'rate_limit' : 'ws';
      this.metrics.pauses.inc({ side });
      this.debug({ event: 'backpressure_pause', side }, reason === 'rate' ? 'client over its byte rate: pausing WebSocket reads' : 'server is slow: pausing WebSocket reads');
    }
  }

  private resumeClient(reason: ClientPause): void {
    if (this.finished) return;
    if (this.clientReads.release(reason) && reason !== 'connecting') {
      this.debug({ event: 'backpressure_resume', side: reason === 'rate' ? 'rate_limit' : 'ws' }, 'resuming WebSocket reads');
    }
  }

  private sendFooterUpstream(): void {
    if (this.footerSentUpstream || !this.upstreamConnected || this.upstreamClosed) return;
    this.footerSentUpstream = true;
    this.upstream!.write(STREAM_FOOTER);
  }

  // ---------------------------------------------------------------- upstream connection

  private connect(): void {
    // Read no more client data than the bounded queue holds until the server is reachable.
    this.pauseClient('connecting');
    const startedAt = nowSeconds();
    const socket = connectUpstream(this.config.upstream, this.config.connectTimeoutMs, (outcome) => {
      this.metrics.upstreamConnect.observe({ result: outcome.ok ? 'ok' : outcome.reason }, nowSeconds() - startedAt);
      this.onConnectOutcome(outcome);
    }, this.connectPacer);
    this.upstream = socket;
    (socket as unknown as Owned)[kSession] = this;
    socket.on('error', Session.listeners.upstreamError);
    socket.on('close', Session.listeners.upstreamClose);
    socket.on('end', Session.listeners.upstreamEnd);
    socket.on('data', Session.listeners.upstreamData);
    socket.on('drain', Session.listeners.upstreamDrain);
  }

  /** Every event listener, shared by all sessions; `this` is the emitter, which carries its session. */
  private static readonly listeners = {
    wsMessage(this: unknown, data: Buffer, isBinary: boolean): void {
      owner(this).onClientMessage(data, isBinary);
    },
    wsPong(this: unknown): void {
      owner(this).alive = true;
    },
    wsError(this: unknown, err: Error & { code?: string }): void {
      owner(this).onClientError(err);
    },
    wsClose(this: unknown, code: number): void {
      owner(this).onClientClose(code);
    },
    wsDrain(this: unknown): void {
      owner(this).onClientDrain();
    },
    upstreamError(this: unknown, err: NodeJS.ErrnoException): void {
      const session = owner(this);
      if (session.upstreamConnected) session.onUpstreamEnd(`${err.code ?? 'error'}: ${err.message}`);
    },
    upstreamClose(this: unknown): void {
      const session = owner(this);
      session.upstreamClosed = true;
      if (session.upstreamConnected) session.onUpstreamEnd('server closed the TCP connection');
      session.maybeClosed();
    },
    upstreamEnd(this: unknown): void {
      const session = owner(this);
      if (session.upstreamConnected) session.onUpstreamEnd('server ended the TCP connection');
    },
    upstreamData(this: unknown, chunk: Buffer): void {
      owner(this).onServerData(chunk);
    },
    upstreamDrain(this: unknown): void {
      owner(this).resumeClient('upstream');
    },
  };

  private onConnectOutcome(outcome: ConnectOutcome): void {
    if (this.finished) return;
    if (!outcome.ok) {
      this.finish('UPSTREAM_CONNECT_FAILED', `cannot reach the XMPP server: ${outcome.message}`);
      return;
    }
    this.upstreamConnected = true;
    if (this.state === 'connecting') this.state = 'open';
    this.debug({ event: 'upstream_connected' }, 'upstream connected');
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const bytes of pending) this.sendUpstream(bytes);
    if (this.endReason === 'CLIENT_CLOSED') this.sendFooterUpstream();
    this.resumeClient('connecting');
  }

  // ---------------------------------------------------------------- server → client

  private onServerData(chunk: Buffer): void {
    if (this.finished) return;
    const receivedAt = nowSeconds();
    this.metrics.hot.bytes.s2c.inc(chunk.length);
    const { tokens, error } = this.serverTokenizer.feed(chunk);
    // One TCP read often holds several elements: each still becomes its own WebSocket message, but
    // corked they leave in one write instead of one syscall each (ws nests cork/uncork).
    const cork = tokens.length > 1;
    if (cork) this.wsSocket.cork();
    try {
      for (const token of tokens) {
        if (this.finished) return;
        this.onServerToken(token, receivedAt);
      }
    } finally {
      if (cork) this.wsSocket.uncork();
    }
    if (error !== null && !this.finished) this.failUpstreamXml(error.condition, error.text);
  }

  private onServerToken(token: Token, receivedAt: number): void {
    switch (token.kind) {
      case 'stream-open': {
        const scope = namespaceScope(token);
        const colon = token.name.indexOf(':');
        const prefix = colon < 0 ? '' : token.name.slice(0, colon);
        if (token.name.slice(colon + 1) !== 'stream' || scope.get(prefix) !== NS_STREAMS) {
          this.failUpstreamXml('invalid-namespace', `server stream header <${token.name}> is not in ${NS_STREAMS}`);
          return;
        }
        this.scope = scope;
        if (this.legacy) this.legacyHeader = token.bytes;
        else this.sendToClient(openFromStreamHeader(token));
        this.openSentToClient = true;
        if (this.openSentAt !== null) {
          this.metrics.hot.streamOpen.observe(nowSeconds() - this.openSentAt);
          this.openSentAt = null;
        }
        return;
      }
      case 'stream-close':
        // The server ended its stream (RFC 6120 §4.4): end ours the same way.
        this.finish(this.endReason ?? 'UPSTREAM_CLOSED', 'server closed the stream');
        return;
      case 'element':
        this.onServerElement(token, receivedAt);
        return;
    }
  }

  private onServerElement(el: ElementToken, receivedAt: number): void {
    const scope = this.scope;
    if (scope === null) {
      this.failUpstreamXml('not-well-formed', 'element before the stream header');
      return;
    }
    let bytes = el.bytes;
    if (el.name.endsWith('features') && isStreamsElement(el, 'features', scope)) {
      const rewrite = rewriteFeatures(el);
      if (rewrite.kind === 'starttls-required') {
        this.log.error(
          { event: 'upstream_requires_starttls', upstream: `${this.config.upstream.host}:${this.config.upstream.port}` },
          'the XMPP server requires STARTTLS, which this gateway does not speak upstream yet: allow plaintext c2s from the gateway (Prosody: c2s_require_encryption = false; ejabberd: starttls_required: false on the gateway-facing listener) or put the gateway on the same host/network',
        );
        this.finish('UPSTREAM_REQUIRES_TLS', 'the XMPP server requires STARTTLS on its c2s port, which this gateway does not support upstream');
        return;
      }
      if (rewrite.kind === 'rewritten') bytes = rewrite.bytes;
    } else if (el.name.endsWith('error') && isStreamsElement(el, 'error', scope)) {
      const condition = streamErrorConditionOf(el);
      this.endReason = 'UPSTREAM_STREAM_ERROR';
      this.metrics.streamError(condition, 'server');
      this.log.info({ event: 'upstream_stream_error', condition }, `server sent stream error ${condition}`);
    }
    // Legacy clients parse one continuous stream, so elements go as they are; RFC 7395 clients get
    // each element standalone.
    const standalone = this.legacy ? bytes : toStandaloneElement(el, scope, bytes);
    if (standalone === null) {
      this.failUpstreamXml('not-well-formed', `server element <${el.name}> uses an undeclared namespace prefix`);
      return;
    }
    if (this.trace) this.log.trace({ event: 'xml_out', xml: traceView(el.name, standalone) }, 'server element');
    this.lastActivity = Date.now();
    this.metrics.hot.elements.s2c[elementKind(el.name)].inc();
    this.metrics.hot.size.s2c.observe(standalone.length);
    const header = this.legacyHeader;
    this.legacyHeader = null;
    this.sendToClient(header === null ? standalone : Buffer.concat([header, standalone]));
    this.metrics.hot.relay.s2c.observe(nowSeconds() - receivedAt);
  }

  /** Every message to the client goes through here, so `bytes_out` counts all of them. */
  private sendMessage(data: Buffer | string): void {
    this.bytesToClient += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.ws.send(data, TEXT);
  }

  private sendToClient(data: Buffer | string): void {
    if (this.wsClosed || this.ws.readyState !== this.ws.OPEN) return;
    this.sendMessage(data);
    if (!this.pausedUpstreamForClient && this.upstream !== null && this.ws.bufferedAmount > this.config.wsHighWaterMark) {
      // The client reads slower than the server writes: stop reading TCP until the WebSocket drains.
      this.pausedUpstreamForClient = true;
      this.upstream.pause();
      this.metrics.pauses.inc({ side: 'tcp' });
      this.debug({ event: 'backpressure_pause', side: 'tcp' }, 'client is slow: pausing server reads');
    }
  }

  private onClientDrain(): void {
    if (this.pausedUpstreamForClient && !this.finished && this.ws.bufferedAmount <= this.config.wsHighWaterMark / 2) {
      this.pausedUpstreamForClient = false;
      this.upstream?.resume();
      this.debug({ event: 'backpressure_resume', side: 'tcp' }, 'client caught up: resuming server reads');
    }
  }

  private onUpstreamEnd(detail: string): void {
    if (this.finished) return;
    if (!this.openSentToClient) {
      this.finish('UPSTREAM_CONNECT_FAILED', `${detail} before sending a stream header`);
      return;
    }
    this.finish(this.endReason ?? 'UPSTREAM_CLOSED', detail);
  }

  /** The server's XML cannot be relayed: tell the server precisely, the client generically. */
  private failUpstreamXml(condition: StreamErrorCondition, text: string): void {
    if (this.upstreamConnected && !this.upstreamClosed && !this.footerSentUpstream) {
      this.upstream!.write(streamErrorXml(condition, text, false));
    }
    this.finish('UPSTREAM_BAD_XML', `server sent XML the gateway cannot relay (${condition}): ${text}`);
  }

  // ---------------------------------------------------------------- client WebSocket events

  private onClientError(err: Error & { code?: string }): void {
    // ws has already started closing with the RFC 6455 code; record why and drop upstream accordingly.
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.finish('CLIENT_MESSAGE_TOO_BIG', err.message);
    else if (err.code === 'WS_ERR_INVALID_UTF8') this.finish('CLIENT_BAD_UTF8', err.message);
    else this.finish('CLIENT_WS_PROTOCOL', `${err.code ?? 'error'}: ${err.message}`);
  }

  private onClientClose(code: number): void {
    this.wsClosed = true;
    this.metrics.wsClosed(code);
    if (!this.finished) {
      // No <close/> came first: a lost connection, not a logout (RFC 7395 §3.6).
      this.finish(this.endReason === 'CLIENT_CLOSED' ? 'CLIENT_CLOSED' : 'CLIENT_GONE', `WebSocket closed with code ${code} without <close/>`);
    }
    this.maybeClosed();
  }

  /** Called by the gateway's sweep every --ping-interval: keepalive and idle timeout. */
  heartbeat(now = Date.now()): void {
    if (this.finished) return;
    if (!this.alive) {
      this.finish('PING_TIMEOUT', `no pong within ${this.config.pingIntervalMs} ms`);
      return;
    }
    if (this.config.idleTimeoutMs > 0 && now - this.lastActivity >= this.config.idleTimeoutMs) {
      this.finish('IDLE_TIMEOUT', `no XMPP traffic for ${this.config.idleTimeoutMs} ms`);
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /**
   * Ends the session because the gateway stops: `<close see-other-uri>` when a redirect is
   * configured (RFC 7395 §3.6.1), otherwise a system-shutdown stream error.
   */
  shutdown(): void {
    if (this.config.redirectUri !== null) this.finish('SHUTDOWN_REDIRECT', `gateway shutting down; reconnect to ${this.config.redirectUri}`);
    else this.finish('SHUTDOWN', 'gateway shutting down');
  }

  /** Last resort (forced shutdown): drop both connections now, without any goodbye. */
  destroy(): void {
    this.finish('SHUTDOWN', 'forced shutdown');
    this.ws.terminate();
    this.upstream?.destroy();
  }

  // ---------------------------------------------------------------- teardown

  /**
   * The single teardown path. In order: the client gets `<open/>` if it has none yet, the stream error
   * if the row has one, `<close/>`, and the WebSocket close code; the server gets `</stream:stream>`
   * (and a FIN) when the row says the stream ends cleanly, or a destroyed socket so XEP-0198 can
   * resume. Timers are cleared; later events are ignored.
   */
  finish(code: FailureCode, text: string): void {
    if (this.finished) return;
    this.finished = true;
    const failure: Failure = FAILURES[code];
    this.state = 'closed';
    for (const timer of [this.openTimer, this.closeTimer, this.rateTimer]) if (timer !== null) clearTimeout(timer);
    this.openTimer = this.closeTimer = this.rateTimer = null;
    this.pending = [];
    this.deferred = [];
    if (failure.condition !== null) this.metrics.streamError(failure.condition, failure.origin);

    // Client side. Reads may be paused (connecting, backpressure, rate): resume them, or the client's
    // half of the close handshake would never be read and ws would wait its 30 s close timer.
    if (this.ws.isPaused) this.ws.resume();
    const wsOpen = !this.wsClosed && this.ws.readyState === this.ws.OPEN;
    if (wsOpen) {
      if (failure.wsCloseCode === WS_CLOSE.ABNORMAL) {
        this.ws.terminate();
      } else if (failure.condition === null && failure.wsCloseCode !== WS_CLOSE.NORMAL && code !== 'SHUTDOWN_REDIRECT') {
        this.ws.close(failure.wsCloseCode, text.slice(0, 120));
      } else {
        if (this.legacyHeader !== null) this.sendMessage(this.legacyHeader);
        if (failure.condition !== null) {
          // RFC 6120 §4.9.1.2: a stream error needs an open stream, so open one if the server never did.
          if (!this.openSentToClient) this.sendMessage(this.legacy ? legacyStreamHeader(getAttr(this.openAttrs, 'to')) : openElement(this.generatedOpenAttrs()));
          this.sendMessage(streamErrorXml(failure.condition, text, !this.legacy));
        }
        if (this.legacy) this.sendMessage(LEGACY_FOOTER);
        else if (code === 'SHUTDOWN_REDIRECT') this.sendMessage(closeElement(this.config.redirectUri!));
        else this.sendMessage(closeElement());
        this.ws.close(failure.wsCloseCode);
      }
    }

    // Server side.
    const up = this.upstream;
    if (up !== null && !this.upstreamClosed) {
      if (failure.closeUpstreamStream && this.upstreamConnected) {
        this.sendFooterUpstream();
        up.end();
        // Last resort if the server never closes its side.
        const timer = setTimeout(() => up.destroy(), Math.max(this.config.closeTimeoutMs, 1000));
        up.once('close', () => clearTimeout(timer));
      } else {
        up.destroy();
      }
      up.resume(); // drain whatever the server still sends so 'end'/'close' can arrive
    }

    const durationMs = Date.now() - this.startedAt;
    this.metrics.sessionDuration.observe({ reason: failure.event }, durationMs / 1000);
    const fields = {
      event: 'session_closed', reason: failure.event, condition: failure.condition, origin: failure.origin,
      ws_close_code: failure.wsCloseCode, duration_s: durationMs / 1000, bytes_in: this.bytesFromClient, bytes_out: this.bytesToClient,
    };
    if (failure.condition !== null && failure.origin !== 'server' && code !== 'SHUTDOWN') this.log.info({ ...fields, text }, 'session closed with stream error');
    else this.log.info(fields, 'session closed');
    this.maybeClosed();
  }

  /** `<open/>` attributes when the gateway must open the stream itself: as if from the requested domain. */
  private generatedOpenAttrs(): Attribute[] {
    const to = getAttr(this.openAttrs, 'to');
    const attrs: Attribute[] = [{ name: 'version', value: '1.0' }];
    if (to !== undefined) attrs.push({ name: 'from', value: to });
    return attrs;
  }

  private maybeClosed(): void {
    if (!this.finished || this.closedNotified) return;
    const upstreamDone = this.upstream === null || this.upstreamClosed;
    if (this.wsClosed && upstreamDone) {
      this.closedNotified = true;
      this.onClosed(this);
    }
  }

  get isFinished(): boolean {
    return this.finished;
  }
}
