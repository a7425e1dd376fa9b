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

/**
 * Whether `Sec-WebSocket-Protocol` offers `name` (RFC 6455 §4.1: comma-separated tokens; Node joins
 * a repeated header with ", "). Scans in place: every handshake asks, and most offer one token.
 */
export function offersProtocol(req: IncomingMessage, name: string): boolean {
  const raw = req.headers['sec-websocket-protocol'];
  if (raw === undefined) return false;
  let start = 0;
  while (start <= raw.length) {
    const comma = raw.indexOf(',', start);
    const end = comma < 0 ? raw.length : comma;
    let a = start;
    let b = end;
    while (a < b && isOws(raw.charCodeAt(a))) a++;
    while (b > a && isOws(raw.charCodeAt(b - 1))) b--;
    if (b - a === name.length && raw.startsWith(name, a)) return true;
    start = end + 1;
  }
  return false;
}

/** Optional whitespace around list elements (RFC 9110 §5.6.1): space or tab. */
const isOws = (c: number): boolean => c === 0x20 || c === 0x09;

/**
 * @param requestHost the `host[:port]` the client used, after trusted proxies (../http/forwarded.ts);
 *   the Origin policy itself (RFC 6455 §10.2) is ../http/origin.ts.
 */
export function checkUpgrade(req: IncomingMessage, path: string, allowedOrigins: readonly string[] = ['*'], requestHost = req.headers.host ?? ''): HandshakeVerdict {
  if (requestPath(req.url) !== path) {
    return { ok: false, status: 404, reason: `Not Found: the XMPP WebSocket endpoint is ${path}\n`, result: 'bad_path' };
  }
  // RFC 7395 §3.1: the client MUST offer "xmpp"; ws would otherwise accept with no subprotocol.
  if (!offersProtocol(req, WS_SUBPROTOCOL)) {
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
