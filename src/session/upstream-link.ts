/**
 * The session's link to the XMPP server (RFC 6120 c2s): dialing through a Dialer
 * (../upstream/dialer.ts), the bounded pre-connect queue, one corked write per tick, the stream
 * footer, the end-or-destroy policy at teardown, and pausing reads. Transport-neutral: WebSocket and
 * BOSH sessions share it through the session core (./session.ts), which implements {@link UpstreamOwner}.
 *
 * Listeners are shared functions that find their link through a symbol on the socket (as ws does
 * with its sockets): no closures per session, which matters with tens of thousands of idle sessions.
 */
import type * as net from 'node:net';
import type { Metrics } from '../metrics';
import type { DialHandle, DialOutcome, Dialer, DialRequest } from '../upstream/dialer';
import { STREAM_FOOTER } from '../xmpp/stream';
import { streamErrorXml, type FailureCode, type StreamErrorCondition } from '../xmpp/stream-error';
import type { UpstreamGoodbye } from './goodbye';
import { nowSeconds } from './transport';

/** What the link reports to its session. Each call is made from a guarded entry point. */
export interface UpstreamOwner {
  /** Connected and ready for the stream header; the queued bytes are written already. */
  upstreamReady(target: string): void;
  /** The dial failed with this row of the failure table. */
  upstreamFailed(code: FailureCode, text: string): void;
  upstreamData(chunk: Buffer): void;
  /** The server took what was written: client reads may resume. */
  upstreamDrained(): void;
  /** The server's TCP side ended (FIN, error or close) after connecting. */
  upstreamEnded(detail: string): void;
  /** The socket is fully closed (or the dial abandoned): the session may be done. */
  upstreamClosed(): void;
  /** An exception escaped one of the link's entry points. */
  crashed(err: unknown, where: string): void;
}

/** The pre-connect queue's bounds (hocuspocus GHSA-xwhh-v746-pj9m: a client must not grow memory while the server is not there yet). */
export interface PreConnectLimits {
  readonly preConnectQueueMessages: number;
  readonly preConnectQueueBytes: number;
}

/** `ok`: written or queued; `slow`: written, but the server is not keeping up (pause the client); `full`: the pre-connect queue is over its bounds. */
export type SendResult = 'ok' | 'slow' | 'full';

const kLink = Symbol('xmpp-ws-gateway.upstream-link');
type Owned = { [kLink]?: UpstreamLink };
const linkOf = (emitter: unknown): UpstreamLink => (emitter as Owned)[kLink]!;

export class UpstreamLink {
  /** Where the link went (from the Dialer), for logs; empty until connected. */
  target = '';
  private socket: net.Socket | null = null;
  private dialing: DialHandle | null = null;
  private connected = false;
  private socketClosed = false;
  private footerSent = false;
  private corked = false;
  /** Bytes waiting for the connection; the stream header first (not counted against the bounds). */
  private pending: Buffer[] = [];
  private pendingCounted = 0;
  private pendingBytes = 0;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly owner: UpstreamOwner,
    private readonly limits: PreConnectLimits,
    private readonly metrics: Metrics,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  /** Nothing left open: never dialed, dial abandoned, or the socket closed. */
  get isDone(): boolean {
    return this.dialing === null && (this.socket === null || this.socketClosed);
  }

  /** Starts the connection; the outcome arrives through the owner. */
  dial(dialer: Dialer, request: DialRequest): void {
    const startedAt = nowSeconds();
    let settled = false;
    const handle = dialer(request, (outcome) => {
      settled = true;
      this.dialing = null;
      try {
        this.onDialed(outcome, startedAt);
      } catch (err) {
        this.owner.crashed(err, 'upstream dial callback');
      }
    });
    // A dialer may answer synchronously (e.g. no route for the domain).
    if (!settled) this.dialing = handle;
  }

  private onDialed(outcome: DialOutcome, startedAt: number): void {
    this.metrics.upstreamConnect.observe({ result: outcome.ok ? 'ok' : outcome.result }, nowSeconds() - startedAt);
    if (!outcome.ok) {
      this.pending = [];
      this.owner.upstreamFailed(outcome.code, outcome.message);
      return;
    }
    const socket = outcome.socket;
    this.socket = socket;
    this.target = outcome.target;
    (socket as unknown as Owned)[kLink] = this;
    socket.on('error', UpstreamLink.listeners.error);
    socket.on('close', UpstreamLink.listeners.close);
    socket.on('end', UpstreamLink.listeners.end);
    socket.on('data', UpstreamLink.listeners.data);
    socket.on('drain', UpstreamLink.listeners.drain);
    this.connected = true;
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = this.pendingCounted = 0;
    for (const bytes of pending) this.write(bytes);
    this.owner.upstreamReady(outcome.target);
  }

  /** The stream header (first open or restart): queued before the connection without counting against the bounds. */
  sendHeader(header: string): void {
    const bytes = Buffer.from(header, 'utf8');
    if (this.connected) this.write(bytes);
    else if (this.socket === null) this.pending.push(bytes);
  }

  /** Client bytes for the server: written now (corked until the end of the tick), or queued within the bounds. */
  send(bytes: Buffer): SendResult {
    if (!this.connected) {
      if (this.pendingCounted >= this.limits.preConnectQueueMessages || this.pendingBytes + bytes.length > this.limits.preConnectQueueBytes) return 'full';
      this.pending.push(bytes);
      this.pendingCounted++;
      this.pendingBytes += bytes.length;
      return 'ok';
    }
    return this.write(bytes) ? 'ok' : 'slow';
  }

  private write(bytes: Buffer | string): boolean {
    const socket = this.socket;
    if (socket === null || this.socketClosed) return true;
    if (!this.corked) {
      // A client transport often delivers several messages in one tick (ws emits every message of
      // one TCP read together): gather their elements into one write, flushed before any I/O.
      this.corked = true;
      socket.cork();
      process.nextTick(UpstreamLink.listeners.uncork, this);
    }
    return socket.write(bytes);
  }

  /** RFC 6120 §4.4: `</stream:stream>`, once. */
  footer(): void {
    if (this.footerSent || !this.connected || this.socketClosed) return;
    this.footerSent = true;
    this.write(STREAM_FOOTER);
  }

  /** Tells the server why the gateway gives up on its stream (a classic stream error, RFC 6120 §4.9). */
  streamError(condition: StreamErrorCondition, text: string): void {
    if (this.footerSent || !this.connected || this.socketClosed) return;
    this.write(streamErrorXml(condition, text, false));
  }

  /** Stop reading the server (the client is slow). */
  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  /**
   * Teardown, as ../session/goodbye.ts planned it: `footer` sends `</stream:stream>` and a FIN and
   * waits up to `closeTimeoutMs` for the server; `destroy` drops the socket (XEP-0198 can resume).
   * A dial still in progress is cancelled either way.
   */
  close(how: UpstreamGoodbye, closeTimeoutMs: number): void {
    this.pending = [];
    if (this.dialing !== null) {
      const dialing = this.dialing;
      this.dialing = null;
      dialing.cancel();
      return;
    }
    const socket = this.socket;
    if (socket === null || this.socketClosed) return;
    if (how === 'footer' && this.connected) {
      this.footer();
      socket.end();
      // Last resort if the server never closes its side.
      this.closeTimer = setTimeout(UpstreamLink.listeners.closeTimer, Math.max(closeTimeoutMs, 1000), this);
    } else {
      socket.destroy();
    }
    socket.resume(); // drain whatever the server still sends so 'end'/'close' can arrive
  }

  /** Forced shutdown: drop everything now. */
  destroy(): void {
    if (this.dialing !== null) this.close('destroy', 0);
    this.socket?.destroy();
  }

  /** Every socket listener and deferred call, shared by all links; `this` is the socket. */
  private static readonly listeners = {
    error(this: unknown, err: NodeJS.ErrnoException): void {
      const link = linkOf(this);
      try {
        link.owner.upstreamEnded(`${err.code ?? 'error'}: ${err.message}`);
      } catch (e) {
        link.owner.crashed(e, 'upstream error');
      }
    },
    close(this: unknown): void {
      const link = linkOf(this);
      try {
        link.socketClosed = true;
        if (link.closeTimer !== null) clearTimeout(link.closeTimer);
        link.closeTimer = null;
        link.owner.upstreamEnded('server closed the TCP connection');
        link.owner.upstreamClosed();
      } catch (e) {
        link.owner.crashed(e, 'upstream close');
      }
    },
    end(this: unknown): void {
      const link = linkOf(this);
      try {
        link.owner.upstreamEnded('server ended the TCP connection');
      } catch (e) {
        link.owner.crashed(e, 'upstream end');
      }
    },
    data(this: unknown, chunk: Buffer): void {
      const link = linkOf(this);
      try {
        link.owner.upstreamData(chunk);
      } catch (e) {
        link.owner.crashed(e, 'upstream data');
      }
    },
    drain(this: unknown): void {
      const link = linkOf(this);
      try {
        link.owner.upstreamDrained();
      } catch (e) {
        link.owner.crashed(e, 'upstream drain');
      }
    },
    uncork(link: UpstreamLink): void {
      try {
        link.corked = false;
        link.socket?.uncork();
      } catch (e) {
        link.owner.crashed(e, 'upstream uncork');
      }
    },
    closeTimer(link: UpstreamLink): void {
      link.closeTimer = null;
      link.socket?.destroy();
    },
  };
}
