/**
 * The scheme and host the *client* used to reach the gateway: the request's own `Host` and the
 * listener's scheme (plain HTTP), unless the peer is a trusted reverse proxy, in which case its
 * `Forwarded: proto=…;host=…` (RFC 7239 §5.3, §5.4) or `X-Forwarded-Proto` / `X-Forwarded-Host` are
 * believed. Pure: the trust decision is made by the caller (./client-ip.ts `isTrustedPeer`).
 *
 * Used by the Origin check (the host name a browser's page must share) and by everything that
 * prints the gateway's public URL (the served chat page, XEP-0156 discovery).
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface PublicAuthority {
  /** `http` or `https`, as the client's browser sees it. */
  readonly scheme: 'http' | 'https';
  /** `host[:port]` as the client addressed it, lower-case (`[v6]` keeps its brackets). */
  readonly host: string;
}

/** A `host[:port]` value with nothing that could break out of a URL or an HTTP header. */
const AUTHORITY = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/;

/** `Host`-style value → normalized `host[:port]`, or null when it is not one. */
export function parseAuthority(value: string | undefined): string | null {
  if (value === undefined) return null;
  const v = value.trim().toLowerCase();
  return AUTHORITY.test(v) ? v : null;
}

/** `host[:port]` → the host name alone (`chat.example.org:8443` → `chat.example.org`, `[::1]:80` → `[::1]`). */
export function hostName(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

/** One header value, or the last of a comma-separated list (the hop nearest to us wrote it last). */
function lastListValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  if (v === undefined) return undefined;
  const parts = v.split(',');
  return parts[parts.length - 1]!.trim();
}

/**
 * `proto=` and `host=` of the last element of an RFC 7239 `Forwarded` header: the element our
 * trusted peer appended (earlier elements were written by hops we cannot vouch for).
 */
function forwardedParams(header: string | undefined): { proto?: string; host?: string } {
  if (header === undefined) return {};
  const elements = header.split(',');
  const out: { proto?: string; host?: string } = {};
  for (const pair of elements[elements.length - 1]!.split(';')) {
    const m = /^\s*(proto|host)\s*=\s*"?([^"]*)"?\s*$/i.exec(pair);
    if (m) out[m[1]!.toLowerCase() as 'proto' | 'host'] = m[2]!.trim();
  }
  return out;
}

/**
 * What the client used: believes forwarding headers only when `peerTrusted`. A missing or malformed
 * value falls back to the next source (Forwarded, then X-Forwarded-*, then the request itself).
 */
export function publicAuthority(headers: IncomingHttpHeaders, peerTrusted: boolean): PublicAuthority {
  let scheme: 'http' | 'https' = 'http';
  let host = parseAuthority(headers.host) ?? '';
  if (!peerTrusted) return { scheme, host };
  const fwd = forwardedParams(typeof headers.forwarded === 'string' ? headers.forwarded : undefined);
  const proto = (fwd.proto ?? lastListValue(headers['x-forwarded-proto']))?.toLowerCase();
  if (proto === 'https' || proto === 'wss') scheme = 'https';
  const fwdHost = parseAuthority(fwd.host) ?? parseAuthority(lastListValue(headers['x-forwarded-host']));
  if (fwdHost !== null) host = fwdHost;
  return { scheme, host };
}
