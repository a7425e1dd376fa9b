/**
 * How a session says goodbye, as data: a pure function from a row of the failure table
 * (../xmpp/stream-error.ts) and what the session knows at that moment to what each side gets.
 * The session core (./session.ts) executes the upstream half and hands the client half to its
 * transport, which renders it in its framing (RFC 7395 `<close/>`, a legacy footer, a BOSH
 * `type='terminate'` body). Nothing else decides how a session ends.
 */
import { FAILURES, WS_CLOSE, type FailureCode, type StreamErrorCondition } from '../xmpp/stream-error';

/** What the client gets. */
export type ClientGoodbye =
  /** The client connection is lost or must be dropped: no frames, no close handshake (RFC 6455 1006). */
  | { readonly kind: 'drop' }
  /** No stream error applies: only the transport's close code speaks (e.g. 1009, 1003, 1007). */
  | { readonly kind: 'close-code'; readonly closeCode: number; readonly reason: string }
  /** The stream ends in XMPP terms: optionally a stream error, then the end of stream, then the close code. */
  | {
      readonly kind: 'end-stream';
      /** RFC 6120 §4.9.1.2: a stream error needs an open stream; the gateway opens one when the server never did. */
      readonly openFirst: boolean;
      /** The domain the client asked for (its `to`), as the `from` of a stream the gateway opens itself. */
      readonly domain: string | undefined;
      readonly streamError: { readonly condition: StreamErrorCondition; readonly text: string } | null;
      /** RFC 7395 §3.6.1: where the client should reconnect. */
      readonly seeOtherUri: string | null;
      readonly closeCode: number;
    };

/** What the server gets: `</stream:stream>` and a FIN, or a destroyed socket so XEP-0198 can resume. */
export type UpstreamGoodbye = 'footer' | 'destroy';

export interface Goodbye {
  readonly client: ClientGoodbye;
  readonly upstream: UpstreamGoodbye;
}

export interface GoodbyeContext {
  /** Has the client been sent a stream open (the server's relayed header) yet? */
  readonly openSentToClient: boolean;
  /** --redirect-uri, used by the SHUTDOWN_REDIRECT row. */
  readonly redirectUri: string | null;
  /** The `to` of the client's open, if any. */
  readonly domain: string | undefined;
}

const DROP: ClientGoodbye = Object.freeze({ kind: 'drop' });

/** The goodbye for `code`; `text` is the specific reason (sent in the stream error's `<text/>` and logged). */
export function planGoodbye(code: FailureCode, text: string, ctx: GoodbyeContext): Goodbye {
  const failure = FAILURES[code];
  const upstream: UpstreamGoodbye = failure.closeUpstreamStream ? 'footer' : 'destroy';
  if (failure.wsCloseCode === WS_CLOSE.ABNORMAL) return { client: DROP, upstream };
  const redirect = code === 'SHUTDOWN_REDIRECT' ? ctx.redirectUri : null;
  if (failure.condition === null && failure.wsCloseCode !== WS_CLOSE.NORMAL && redirect === null) {
    // RFC 6455 §7.4.1 close reasons are limited to 123 bytes; the text stays in the log.
    return { client: { kind: 'close-code', closeCode: failure.wsCloseCode, reason: text.slice(0, 120) }, upstream };
  }
  const streamError = failure.condition === null ? null : { condition: failure.condition, text };
  return {
    client: { kind: 'end-stream', openFirst: streamError !== null && !ctx.openSentToClient, domain: ctx.domain, streamError, seeOtherUri: redirect, closeCode: failure.wsCloseCode },
    upstream,
  };
}
