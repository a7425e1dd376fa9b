/**
 * The WebSocket client transport (RFC 7395): the only code that wires a `ws` connection to a session.
 * It turns messages into session calls through the connection's framing (./framing.ts), renders what
 * the session sends, keeps the connection alive with pings (RFC 6455 §5.5.2), and says goodbye in
 * the framing's terms (./goodbye.ts).
 *
 * Listeners are shared functions that find their transport through a symbol on the emitter (ws does
 * the same with its sockets): no closures per connection, which matters with tens of thousands idle.
 * Each is a guarded entry point: an exception ends this session as INTERNAL, never the process.
 */
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { Limits } from '../../limits';
import type { Metrics } from '../../metrics';
import type { ClientGoodbye } from '../../session/goodbye';
import type { ClientTransport, SessionInput } from '../../session/transport';
import type { MessageTokenizer } from '../../xml/message-tokenizer';
import type { StreamOpenToken, TokenizerLimits } from '../../xml/tokens';
import { websocketGoodbye } from './goodbye';
import type { Framing, FramingContext } from './framing';

export interface WebSocketTransportOptions {
  readonly ws: WebSocket;
  /** The upgraded HTTP socket under `ws`: its 'drain' tells when the client caught up. */
  readonly socket: Duplex;
  /** The gateway's shared tokenizer for whole client messages. */
  readonly messages: MessageTokenizer;
  /** The framing the connection starts in (./framing.ts `initialFraming`). */
  readonly framing: Framing;
  readonly metrics: Metrics;
  /** The gateway's limits (../../limits.ts): element size for legacy headers, backpressure marks, pre-connect bounds. */
  readonly limits: Limits;
}

const TEXT = { binary: false } as const;

const kTransport = Symbol('xmpp-ws-gateway.websocket-transport');
type Owned = { [kTransport]?: WebSocketTransport };
/** The transport an emitter belongs to (set before any listener is attached). */
const owner = (emitter: unknown): WebSocketTransport => (emitter as Owned)[kTransport]!;

export class WebSocketTransport implements ClientTransport, FramingContext {
  session!: SessionInput;
  bytesToClient = 0;
  /** Cleared by a ping, set by a pong (RFC 6455 §5.5.2). */
  alive = true;
  readonly messages: MessageTokenizer;
  private readonly ws: WebSocket;
  private readonly socket: Duplex;
  private readonly metrics: Metrics;
  private readonly limits: Limits;
  private current: Framing;
  private closed = false;
  private intakePaused = false;
  /**
   * Messages ws delivered after reads were paused: pausing stops the socket, but ws still emits what
   * it already parsed from the last read (up to one read's worth). They wait here, in order, so a
   * pause really holds data back (rate limit, slow server) instead of relaying one more read.
   */
  private deferred: Array<{ data: Buffer; isBinary: boolean }> | null = null;
  private deferredBytes = 0;
  /** The server's stream header, held for the next element when the framing says so (headerJoinsNext). */
  private heldHeader: Buffer | string | null = null;

  constructor(opts: WebSocketTransportOptions) {
    this.ws = opts.ws;
    this.socket = opts.socket;
    this.messages = opts.messages;
    this.current = opts.framing;
    this.metrics = opts.metrics;
    this.limits = opts.limits;
  }

  attach(session: SessionInput): void {
    this.session = session;
    (this.ws as unknown as Owned)[kTransport] = this;
    (this.socket as unknown as Owned)[kTransport] = this;
    this.ws.on('message', WebSocketTransport.listeners.message);
    this.ws.on('pong', WebSocketTransport.listeners.pong);
    this.ws.on('error', WebSocketTransport.listeners.error);
    this.ws.on('close', WebSocketTransport.listeners.close);
    this.socket.on('drain', WebSocketTransport.listeners.drain);
  }

  // ---------------------------------------------------------------- FramingContext

  get xmlLimits(): TokenizerLimits {
    return this.limits.xml;
  }

  useFraming(framing: Framing): void {
    this.current = framing;
  }

  // ---------------------------------------------------------------- client → session

  private onMessage(data: Buffer, isBinary: boolean): void {
    const session = this.session;
    if (!session.acceptsClientData) return;
    if (this.intakePaused) {
      (this.deferred ??= []).push({ data, isBinary });
      this.deferredBytes += data.length;
      // While connecting, held messages count against the pre-connect bounds like queued elements.
      if (session.connecting && (this.deferred.length > this.limits.preConnectQueueMessages || this.deferredBytes > this.limits.preConnectQueueBytes)) {
        session.fail('CLIENT_FLOOD_BEFORE_READY', `more than ${this.limits.preConnectQueueMessages} messages or ${this.limits.preConnectQueueBytes} bytes before the server connection was ready`);
      }
      return;
    }
    this.readMessage(data, isBinary);
  }

  private readMessage(data: Buffer, isBinary: boolean): void {
    const session = this.session;
    const receivedAt = session.clientBytes(data.length);
    if (isBinary) {
      session.fail('CLIENT_BINARY', 'binary WebSocket messages are not allowed (RFC 7395 §3.2)');
      return;
    }
    // No size check on the message itself: ws refused anything over Limits.maxWebSocketMessageBytes,
    // and the tokenizer refuses any element over --max-stanza-size while reading it.
    this.current.readMessage(data, receivedAt, this);
    session.clientConsumed(data.length);
  }

  pauseIntake(): void {
    this.intakePaused = true;
    this.ws.pause();
  }

  /** First the held messages, in order (each may pause again), then the socket. */
  resumeIntake(): void {
    this.intakePaused = false;
    const deferred = this.deferred;
    while (deferred !== null && deferred.length > 0 && !this.intakePaused && this.session.acceptsClientData) {
      const { data, isBinary } = deferred.shift()!;
      this.deferredBytes -= data.length;
      this.readMessage(data, isBinary);
    }
    if (!this.intakePaused) this.ws.resume();
  }

  // ---------------------------------------------------------------- session → client

  get framing(): string {
    return this.current.name;
  }

  get standaloneElements(): boolean {
    return this.current.standaloneElements;
  }

  /** Every message to the client goes through here, so `bytes_out` counts all of them. */
  private send(data: Buffer | string): void {
    this.bytesToClient += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.ws.send(data, TEXT);
  }

  private get open(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  serverOpen(header: StreamOpenToken): void {
    if (!this.open) return;
    if (this.current.headerJoinsNext) this.heldHeader = this.current.open(header);
    else this.send(this.current.open(header));
  }

  serverElement(bytes: Buffer): void {
    if (!this.open) return;
    const header = this.heldHeader;
    if (header === null) {
      this.send(bytes);
      return;
    }
    this.heldHeader = null;
    this.send(Buffer.concat([typeof header === 'string' ? Buffer.from(header) : header, bytes]));
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  get congested(): boolean {
    return this.ws.bufferedAmount > this.limits.wsHighWaterMark;
  }

  ping(): void {
    this.alive = false;
    this.ws.ping();
  }

  goodbye(plan: ClientGoodbye): void {
    this.deferred = null;
    // Reads may be paused (connecting, backpressure, rate): resume them, or the client's half of the
    // close handshake would never be read and ws would wait its 30 s close timer.
    if (this.ws.isPaused) this.ws.resume();
    if (!this.open) return;
    const bye = websocketGoodbye(plan, this.current);
    if (bye.kind === 'terminate') {
      this.ws.terminate();
      return;
    }
    // A held header still opens the stream the goodbye's stream error and footer end.
    if (this.heldHeader !== null && bye.messages.length > 0) this.send(this.heldHeader);
    this.heldHeader = null;
    for (const message of bye.messages) this.send(message);
    if (bye.reason === undefined) this.ws.close(bye.code);
    else this.ws.close(bye.code, bye.reason);
  }

  destroy(): void {
    this.ws.terminate();
  }

  // ---------------------------------------------------------------- events

  private onError(err: Error & { code?: string }): void {
    // ws has already started closing with the RFC 6455 code; record why and drop upstream accordingly.
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.session.fail('CLIENT_MESSAGE_TOO_BIG', err.message);
    else if (err.code === 'WS_ERR_INVALID_UTF8') this.session.fail('CLIENT_BAD_UTF8', err.message);
    else this.session.fail('CLIENT_WS_PROTOCOL', `${err.code ?? 'error'}: ${err.message}`);
  }

  private onClose(code: number): void {
    this.closed = true;
    this.metrics.wsClosed(code);
    this.session.clientGone(`WebSocket closed with code ${code} without <close/>`);
  }

  private onDrain(): void {
    if (this.ws.bufferedAmount <= this.limits.wsHighWaterMark / 2) this.session.clientDrained();
  }

  /** Every event listener, shared by all connections; `this` is the emitter, which carries its transport. */
  private static readonly listeners = {
    message(this: unknown, data: Buffer, isBinary: boolean): void {
      const t = owner(this);
      try {
        t.onMessage(data, isBinary);
      } catch (err) {
        t.session.crashed(err, 'WebSocket message');
      }
    },
    pong(this: unknown): void {
      owner(this).alive = true;
    },
    error(this: unknown, err: Error & { code?: string }): void {
      const t = owner(this);
      try {
        t.onError(err);
      } catch (e) {
        t.session.crashed(e, 'WebSocket error');
      }
    },
    close(this: unknown, code: number): void {
      const t = owner(this);
      try {
        t.onClose(code);
      } catch (e) {
        t.closed = true;
        t.session.crashed(e, 'WebSocket close', true);
      }
    },
    drain(this: unknown): void {
      const t = owner(this);
      try {
        t.onDrain();
      } catch (e) {
        t.session.crashed(e, 'client drain');
      }
    },
  };
}
