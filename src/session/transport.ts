/**
 * The seam between a client transport and the transport-neutral session core (./session.ts).
 *
 * A client transport is the only code that knows how the client reaches the gateway: RFC 7395
 * WebSocket (../transports/websocket/), or XEP-0124/XEP-0206 BOSH. It turns the client's bytes into
 * the calls of {@link SessionInput} and renders what the core hands it ({@link ClientTransport}) in
 * its own framing. Everything else — the upstream link, the stream-restart rule, backpressure
 * towards the server, keepalive deadlines, the goodbye — lives in the core, once for every
 * transport. Adding a transport never means editing another one.
 *
 * Both interfaces are called synchronously; neither side may throw into the other. An exception
 * escaping a transport's own event handler must be handed to {@link SessionInput.crashed}.
 */
import type { Attribute, ElementToken, StreamOpenToken } from '../xml/tokens';
import type { FailureCode } from '../xmpp/stream-error';
import type { ClientGoodbye } from './goodbye';

/** What a client transport tells its session. */
export interface SessionInput {
  /**
   * The client opens its stream, or restarts it (RFC 6120 §4.3.3), with these stream attributes
   * (`to`, `xml:lang`, `version`, `from`; others are ignored). The first open dials the server;
   * a restart is accepted only where RFC 6120 allows one.
   */
  clientOpen(attrs: readonly Attribute[]): void;
  /**
   * One complete top-level element (a stanza, or any other first-level child of the stream) from the
   * client, relayed byte for byte. `receivedAt` is {@link nowSeconds} when its bytes arrived.
   */
  clientElement(el: ElementToken, receivedAt: number): void;
  /** The client ended its stream cleanly (RFC 7395 `<close/>`, a legacy footer, BOSH `type='terminate'`). */
  clientClose(): void;
  /**
   * The client's connection is gone for good. Without a {@link clientClose} first this is a lost
   * client, not a logout: the server's socket is destroyed without `</stream:stream>` so a
   * XEP-0198 session can be resumed. Call once, when the transport's connection has fully closed.
   */
  clientGone(detail: string): void;
  /** Ends the session with a row of the failure table (a framing or protocol error the transport found). */
  fail(code: FailureCode, text: string): void;
  /**
   * An exception escaped one of the transport's entry points: the session ends as INTERNAL.
   * `clientGone`: the client connection is closed already (the fault was in its close handler).
   */
  crashed(err: unknown, where: string, clientGone?: boolean): void;
  /** Bytes arrived from the client (counted for logs and metrics); returns {@link nowSeconds} for relay latency. */
  clientBytes(n: number): number;
  /** A client message was fully handled: its bytes count against --max-bytes-per-second (reads may pause). */
  clientConsumed(n: number): void;
  /** The client caught up after {@link ClientTransport.congested}: server reads resume. */
  clientDrained(): void;
  /** False after the client's close or once the session is ending: further client data is ignored. */
  readonly acceptsClientData: boolean;
  /** True while the server is not ready yet: a transport holding client data meanwhile bounds it like the pre-connect queue. */
  readonly connecting: boolean;
}

/** What the session core asks of its client transport. */
export interface ClientTransport {
  /** Called once, by the session's constructor: from then on the transport reports to `session`. */
  attach(session: SessionInput): void;
  /** The `framing` label of `xmppgw_sessions_total`, read when the stream first opens (e.g. `rfc7395`, `legacy`, `bosh`). */
  readonly framing: string;
  /**
   * True when each server element must parse on its own, every namespace it uses declared on it
   * (RFC 7395 §3.3.3, BOSH `<body/>` children); false when the client parses one continuous stream.
   */
  readonly standaloneElements: boolean;
  /**
   * The server opened its stream (first, or after a restart). `header.attrs` carries `id`, `from`,
   * `version`, `xml:lang` (RFC 6120 §4.7; BOSH's authid is the `id`); `header.bytes` the start tag as sent.
   */
  serverOpen(header: StreamOpenToken): void;
  /** One server element for the client, already in the form {@link standaloneElements} asks for. */
  serverElement(bytes: Buffer): void;
  /** Several serverElement calls follow (one server read): the transport may gather them into one write. */
  cork(): void;
  /** The end of such a batch. */
  uncork(): void;
  /**
   * After {@link serverElement}: true when the client is too far behind; the core stops reading the
   * server until the transport calls {@link SessionInput.clientDrained}.
   */
  readonly congested: boolean;
  /** Stop delivering client data (the server is slow, not connected yet, or the client is over its byte rate). */
  pauseIntake(): void;
  /** Deliver client data again, first anything held back while paused, in order. */
  resumeIntake(): void;
  /** False when the client did not answer the previous keepalive probe (the session then ends as PING_TIMEOUT). */
  readonly alive: boolean;
  /** Sends a keepalive probe (a WebSocket ping); transports whose client polls do nothing. */
  ping(): void;
  /** Ends the client side as planned by ../session/goodbye.ts; called once. */
  goodbye(plan: ClientGoodbye): void;
  /** Drops the client connection now, without any goodbye (forced shutdown). */
  destroy(): void;
  /** Bytes sent to the client so far, for the session_closed log line. */
  readonly bytesToClient: number;
}

/** Seconds on a monotonic clock, for latency metrics. */
export const nowSeconds = (): number => performance.now() / 1000;
