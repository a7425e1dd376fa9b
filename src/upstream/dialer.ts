/**
 * The seam between a session and the XMPP server (RFC 6120 §3).
 *
 * A Dialer turns "this client wants domain D" into a connection that is ready for the client's stream
 * header: choosing the target (a fixed upstream, a static map, or DNS SRV), opening TCP or direct TLS,
 * writing a PROXY protocol header, and negotiating STARTTLS before the client sees any features all
 * happen behind it. The session only ever sees the finished socket, so a client transport (WebSocket,
 * BOSH) never learns how the server was reached.
 */
import type * as net from 'node:net';
import type { FailureCode } from '../xmpp/stream-error';

export interface DialRequest {
  /** The XMPP domain from the client's `<open to>` (RFC 7395 §3.4); undefined when the client named none. */
  readonly domain: string | undefined;
  /** The client's address after trusted proxies (for the PROXY protocol header and logs). */
  readonly clientAddress: string;
  /** The client's port as the gateway saw it, when known. */
  readonly clientPort?: number;
}

/** Bounded label values for `xmppgw_upstream_connect_duration_seconds{result}`. */
export type DialResult = 'ok' | 'refused' | 'timeout' | 'error';

export type DialOutcome =
  | {
      readonly ok: true;
      /** Connected and ready for the client's stream header (a TLSSocket when the hop is encrypted). */
      readonly socket: net.Socket;
      /** Where it went, for logs: e.g. `xmpp.example.org:5222`. */
      readonly target: string;
      /** True when the hop to the server is TLS (direct or after STARTTLS). */
      readonly secure: boolean;
    }
  | {
      readonly ok: false;
      /** The row of the failure table the session ends with. */
      readonly code: FailureCode;
      readonly result: Exclude<DialResult, 'ok'>;
      /** What went wrong, specific enough for an operator (logged and sent in the stream error's text). */
      readonly message: string;
    };

export interface DialHandle {
  /** Abandons the attempt and destroys any socket it opened; `done` is then never called. Idempotent. */
  cancel(): void;
}

/** Calls `done` exactly once unless cancelled first. */
export type Dialer = (request: DialRequest, done: (outcome: DialOutcome) => void) => DialHandle;
