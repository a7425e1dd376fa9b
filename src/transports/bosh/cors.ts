/**
 * CORS for the BOSH endpoint (Fetch standard, "CORS protocol"): browsers POST to a BOSH URL on
 * another origin only after a preflight, and read the response only if it names their Origin.
 * The allowed origins are the WebSocket side's --allowed-origins, checked by the same function, so
 * one setting governs both transports. Pure.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { checkOrigin } from '../websocket/handshake';

/** How long a browser may cache a preflight answer, seconds (browsers cap it: Chromium at 2 h). */
const PREFLIGHT_MAX_AGE_S = 7200;

export type CorsVerdict =
  | { readonly ok: true; readonly headers: OutgoingHttpHeaders }
  | { readonly ok: false };

/**
 * Headers for a request from `req`'s Origin: none for non-browser clients (no Origin), the Origin
 * echoed back when it is allowed, a refusal otherwise. `Vary: Origin` keeps caches from serving one
 * origin's answer to another.
 */
export function corsFor(req: IncomingMessage, allowed: readonly string[]): CorsVerdict {
  const origin = req.headers.origin;
  if (origin === undefined) return { ok: true, headers: {} };
  if (!checkOrigin(req, allowed)) return { ok: false };
  return { ok: true, headers: { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } };
}

/** The answer to an `OPTIONS` preflight from an allowed origin. */
export function preflightHeaders(base: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return {
    ...base,
    'Access-Control-Allow-Methods': 'POST, OPTIONS',
    // Content-Type: text/xml is not a CORS-safelisted value, so every BOSH client's POST is preflighted.
    'Access-Control-Allow-Headers': 'Content-Type',
    'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
  };
}
