/**
 * The client's address as the gateway should see it: the socket peer, unless that peer is a trusted
 * reverse proxy, in which case the proxy's `Forwarded` (RFC 7239) or `X-Forwarded-For` header is
 * believed — read from the right, skipping further trusted proxies, so a client cannot forge its
 * address by sending the header itself.
 */
import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { TrustedProxies } from './trusted-proxies';

function family(addr: string): 'ipv4' | 'ipv6' | null {
  const v = isIP(addr);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : null;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, so IPv4 rules match IPv4 clients on dual-stack sockets. */
export function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

/** Addresses in a `Forwarded` header, in order (`for=1.2.3.4`, `for="[2001:db8::1]:4711"`). */
function forwardedFor(header: string): string[] {
  const out: string[] = [];
  for (const element of header.split(',')) {
    for (const pair of element.split(';')) {
      const m = /^\s*for\s*=\s*"?([^";]*)"?\s*$/i.exec(pair);
      if (!m) continue;
      let v = m[1]!.trim();
      if (v.startsWith('[')) v = v.slice(1, v.indexOf(']'));
      else if (isIP(v) === 0 && /^[\d.]+:\d+$/.test(v)) v = v.slice(0, v.lastIndexOf(':'));
      out.push(v);
    }
  }
  return out;
}

/** Whether the socket peer is a reverse proxy whose forwarding headers may be believed. */
export function isTrustedPeer(peer: string | undefined, trusted: TrustedProxies): boolean {
  return trusted.has(normalizeAddress(peer ?? ''));
}

/** The first untrusted hop from the right, or the peer itself when it is not a trusted proxy. */
export function clientAddress(peer: string | undefined, headers: IncomingHttpHeaders, trusted: TrustedProxies): string {
  const remote = normalizeAddress(peer ?? '');
  if (!trusted.has(remote)) return remote;
  const forwarded = headers.forwarded;
  const xff = headers['x-forwarded-for'];
  const hops = typeof forwarded === 'string'
    ? forwardedFor(forwarded)
    : typeof xff === 'string'
      ? xff.split(',').map((s) => s.trim())
      : [];
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!);
    if (family(hop) === null) return remote; // garbage in the chain: trust nothing past the proxy
    if (!trusted.has(hop)) return hop;
  }
  return hops.length > 0 ? normalizeAddress(hops[0]!) : remote;
}
