/**
 * HTTP upgrade policy (RFC 6455 §4.2, RFC 7395 §3.1): which requests may become XMPP WebSockets.
 * Pure decisions here; ../../gateway.ts acts on them. A refusal is a short plain-text HTTP response,
 * never a WebSocket that is closed right away, so proxies and browsers show the real reason.
 */
import type { IncomingMessage } from 'node:http';
import { WS_SUBPROTOCOL } from '../../xmpp/namespaces';
import { checkOrigin, type OriginVerdict } from '../../http/origin';

export type HandshakeVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false; readonly status: number; readonly reason: string; readonly result: 'bad_path' | 'bad_protocol' | 'bad_origin';
      /** Set for bad_origin: what was refused and what would allow it (../http/origin.ts). */
      readonly origin?: Extract<OriginVerdict, { ok: false }>;
    };

/** The path of a request target, without query string (`/xmpp-websocket?x=1` → `/xmpp-websocket`). */
export function requestPath(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/** Subprotocols offered in `Sec-WebSocket-Protocol` (RFC 6455 §4.1: comma-separated tokens, may repeat the header). */
export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  if (raw === undefined) return [];
  return raw.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
}

/**
 * @param requestHost the `host[:port]` the client used, after trusted proxies (../http/forwarded.ts);
 *   the Origin policy itself (RFC 6455 §10.2) is ../http/origin.ts.
 */
export function checkUpgrade(req: IncomingMessage, path: string, allowedOrigins: readonly string[] = ['*'], requestHost = req.headers.host ?? ''): HandshakeVerdict {
  if (requestPath(req.url) !== path) {
    return { ok: false, status: 404, reason: `Not Found: the XMPP WebSocket endpoint is ${path}\n`, result: 'bad_path' };
  }
  // RFC 7395 §3.1: the client MUST offer "xmpp"; ws would otherwise accept with no subprotocol.
  if (!offeredProtocols(req).includes(WS_SUBPROTOCOL)) {
    return {
      ok: false, status: 400, result: 'bad_protocol',
      reason: 'Bad Request: offer the WebSocket subprotocol "xmpp" (Sec-WebSocket-Protocol: xmpp, RFC 7395 §3.1)\n',
    };
  }
  const origin = checkOrigin(req.headers.origin, requestHost, allowedOrigins);
  if (!origin.ok) {
    return { ok: false, status: 403, result: 'bad_origin', origin, reason: 'Forbidden: this page\'s Origin may not use this XMPP endpoint (see --allowed-origins)\n' };
  }
  return { ok: true };
}

/** The reply's subprotocol: exactly "xmpp", whatever order the client offered (ws would pick the first). */
export function selectProtocol(protocols: Set<string>): string | false {
  return protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false;
}
