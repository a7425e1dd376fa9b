/**
 * Origin policy for browser requests (RFC 6455 §10.2, RFC 6454): pure decisions, no I/O.
 *
 * Why an Origin check at all: a page on another site can make a visitor's browser open a WebSocket
 * to us, carrying the visitor's cookies and network position (cross-site WebSocket hijacking).
 *
 * Why `same-origin` compares host NAMES only (not scheme, not port): what the attack abuses —
 * cookies — is isolated by neither port nor scheme (RFC 6265 §8.5: cookies for a host are shared by
 * all its ports; a non-Secure cookie is sent over http and https alike), so comparing them adds no
 * protection. And reverse proxies routinely lose both: nginx's `proxy_set_header Host $host` drops
 * the port, and TLS ends at the proxy, so the gateway sees `Host: chat.example.org` over plain HTTP
 * while the page's Origin is `https://chat.example.org:8443`. Comparing full origins refused every
 * browser behind such a proxy.
 *
 * Why an Origin no browser sends counts as no Origin: browsers always send an RFC 6454 serialized
 * origin, `scheme://host[:port]`, or `null` (opaque origins: sandboxed frames, file: pages). Any
 * other value (Tsung 1.7 hard-codes `Origin: 127.0.0.1`) comes from a non-browser client, which
 * could send whatever it likes anyway; the Origin check protects browsers, so such requests are
 * treated like requests without Origin. `null` is a real browser value and stays refused unless
 * allowed (`null` or `*` in the list).
 */
import { hostName } from './forwarded';

export type ParsedOrigin =
  | { readonly kind: 'none' }
  | { readonly kind: 'non_browser'; readonly raw: string }
  | { readonly kind: 'null' }
  | { readonly kind: 'origin'; readonly serialized: string; readonly scheme: string; readonly host: string };

/** RFC 6454 §6.2 serialization: scheme "://" host [ ":" port ], nothing else. */
const SERIALIZED_ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/([a-z0-9_~!$&'()*+,;=.%-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/;

export function parseOrigin(raw: string | undefined): ParsedOrigin {
  if (raw === undefined) return { kind: 'none' };
  const v = raw.trim().toLowerCase();
  if (v === '') return { kind: 'none' };
  if (v === 'null') return { kind: 'null' };
  const m = SERIALIZED_ORIGIN.exec(v);
  if (!m) return { kind: 'non_browser', raw };
  return { kind: 'origin', serialized: v, scheme: m[1]!, host: m[2]! };
}

/** Why an Origin was refused: the `reason` label of `xmppgw_origin_refusals_total`. */
export type OriginRefusalReason = 'null_origin' | 'other_host' | 'not_listed';
export const ORIGIN_REFUSAL_REASONS: readonly OriginRefusalReason[] = ['null_origin', 'other_host', 'not_listed'];

export type OriginVerdict =
  | { readonly ok: true; readonly origin: 'none' | 'non_browser' | 'allowed' }
  | {
      readonly ok: false;
      readonly reason: OriginRefusalReason;
      /** The Origin as sent (for the log line). */
      readonly origin: string;
      /** The host name same-origin compared it with, or null when same-origin is not configured. */
      readonly comparedHost: string | null;
      /** The setting that would allow it. */
      readonly allowWith: string;
    };

/** `https://*.example.org` → a matcher for that origin and its subdomains' origins; else exact match. */
function patternMatches(pattern: string, origin: string): boolean {
  const star = pattern.indexOf('://*.');
  if (star < 0) return pattern.toLowerCase() === origin;
  const scheme = pattern.slice(0, star + 3).toLowerCase();
  const suffix = pattern.slice(star + 4).toLowerCase(); // ".example.org[:port]"
  return origin.startsWith(scheme) && origin.endsWith(suffix) && origin.length > scheme.length + suffix.length;
}

/**
 * Decides whether a request with this `Origin` header may proceed.
 * @param requestHost the `host[:port]` the client used (after trusted proxies, ./forwarded.ts)
 * @param allowed `--allowed-origins`: exact origins, `https://*.domain` wildcards, `same-origin`, `null`, `*`
 */
export function checkOrigin(rawOrigin: string | undefined, requestHost: string, allowed: readonly string[]): OriginVerdict {
  const parsed = parseOrigin(rawOrigin);
  if (parsed.kind === 'none' || parsed.kind === 'non_browser') return { ok: true, origin: parsed.kind };
  if (allowed.includes('*')) return { ok: true, origin: 'allowed' };
  const sameOrigin = allowed.includes('same-origin');
  const comparedHost = sameOrigin ? hostName(requestHost) : null;
  if (parsed.kind === 'null') {
    if (allowed.includes('null')) return { ok: true, origin: 'allowed' };
    return { ok: false, reason: 'null_origin', origin: 'null', comparedHost, allowWith: '--allowed-origins null (any sandboxed frame or file: page could then connect)' };
  }
  if (sameOrigin && comparedHost !== '' && parsed.host === comparedHost) return { ok: true, origin: 'allowed' };
  for (const pattern of allowed) {
    if (pattern !== 'same-origin' && pattern !== 'null' && patternMatches(pattern, parsed.serialized)) return { ok: true, origin: 'allowed' };
  }
  return {
    ok: false,
    reason: sameOrigin ? 'other_host' : 'not_listed',
    origin: parsed.serialized,
    comparedHost,
    allowWith: `--allowed-origins ${[...allowed, parsed.serialized].join(',')}`,
  };
}

/**
 * The `Access-Control-Allow-Origin` value for a public document (XEP-0156 host-meta) under the
 * same policy: `*` when any Origin is allowed, the Origin itself when it is allowed (with
 * `Vary: Origin` by the caller), nothing otherwise (the browser then withholds the response).
 */
export function corsAllowOrigin(rawOrigin: string | undefined, requestHost: string, allowed: readonly string[]): string | null {
  if (allowed.includes('*')) return '*';
  const parsed = parseOrigin(rawOrigin);
  if (parsed.kind !== 'origin' && parsed.kind !== 'null') return null;
  const verdict = checkOrigin(rawOrigin, requestHost, allowed);
  return verdict.ok ? (parsed.kind === 'null' ? 'null' : parsed.serialized) : null;
}
