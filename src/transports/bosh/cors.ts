/**
 * CORS for the BOSH endpoint (Fetch standard, "CORS protocol"): browsers POST to a BOSH URL on
 * another origin only after a preflight, and read the response only if it names their Origin.
 * The decision is the WebSocket side's (../../http/origin.ts, --allowed-origins), so one setting
 * governs both transports. Pure.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { checkOrigin, type OriginRefusalReason } from '../../http/origin';

/** How long a browser may cache a preflight answer, seconds (browsers cap it: Chromium at 2 h). */
const PREFLIGHT_MAX_AGE_S = 7200;

export type CorsVerdict =
  | { readonly ok: true; readonly headers: OutgoingHttpHeaders }
  | { readonly ok: false; readonly reason: OriginRefusalReason; readonly origin: string; readonly allowWith: string };

/**
 * Headers for a request with this `Origin`: none for non-browser clients (no Origin), the Origin
 * echoed back when it is allowed (`Vary: Origin` keeps caches from serving one origin's answer to
 * another), a refusal otherwise.
 * @param requestHost the `host[:port]` the client used (after trusted proxies), for `same-origin`
 */
export function corsFor(rawOrigin: string | undefined, requestHost: string, allowed: readonly string[]): CorsVerdict {
  const verdict = checkOrigin(rawOrigin, requestHost, allowed);
  if (!verdict.ok) return { ok: false, reason: verdict.reason, origin: verdict.origin, allowWith: verdict.allowWith };
  if (verdict.origin !== 'allowed' || rawOrigin === undefined) return { ok: true, headers: {} };
  return { ok: true, headers: { 'Access-Control-Allow-Origin': rawOrigin.trim(), Vary: 'Origin' } };
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
