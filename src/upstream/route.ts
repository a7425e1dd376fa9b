/**
 * Routing: from the client's domain (`<open to>`, RFC 7395 §3.4) to an ordered list of servers to
 * try. Pure: DNS answers come in as data, the random draw is injectable.
 *
 * - fixed: one operator-given host:port for every domain (the sidecar case).
 * - map: an operator-given table, DOMAIN → HOST:PORT[/TLS].
 * - dns: `_xmpps-client._tcp` (direct TLS, XEP-0368) and `_xmpp-client._tcp` (STARTTLS, RFC 6120
 *   §3.2.1) SRV records, ordered by priority and weight (RFC 2782), else the domain itself on 5222.
 * In map and dns routing only allowlisted domains are served; any other gets host-unknown.
 */
import type { Config, HostPort, MapEntry, UpstreamTls } from '../config';
import type { SrvRecord } from './dns-wire';

/** The TLS step for one target: `auto` is resolved per route mode before dialing. */
export type HopTls = 'opportunistic' | 'starttls' | 'direct' | 'none';

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: HopTls;
  /** Refuse special-purpose addresses for this target (dns routing, unless allowed). */
  readonly checkAddresses: boolean;
  /** Where it came from, for logs: `fixed`, `map`, `srv _xmpps-client`, `srv _xmpp-client`, `fallback`. */
  readonly via: string;
}

/** RFC 6120 §3.2.1 fallback and XEP-0368 defaults. */
export const XMPP_CLIENT_PORT = 5222;

const DOMAIN_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** `<open to>` as a DNS name: lower-case, no trailing dot; null when it is not a host name (an IP literal, junk). */
export function normalizeDomain(to: string | undefined): string | null {
  if (to === undefined) return null;
  const d = to.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN_RE.test(d) || /^[\d.]+$/.test(d)) return null;
  return d;
}

/** Exact match, or `*.example.org` matching any name below example.org (not example.org itself). */
export function matchesDomain(domain: string, pattern: string): boolean {
  if (pattern.startsWith('*.')) return domain.endsWith(pattern.slice(1)) && domain.length > pattern.length - 1;
  return domain === pattern;
}

export function domainAllowed(domain: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => matchesDomain(domain, p));
}

/** The map entry for `domain`: an exact entry first, else the longest matching wildcard. */
export function mapLookup(domain: string, entries: readonly MapEntry[]): MapEntry | null {
  const exact = entries.find((e) => e.domain === domain);
  if (exact) return exact;
  const wild = entries.filter((e) => e.domain.startsWith('*.') && matchesDomain(domain, e.domain));
  wild.sort((a, b) => b.domain.length - a.domain.length);
  return wild[0] ?? null;
}

/**
 * `auto` per route: opportunistic for a fixed upstream (a sidecar on loopback may be plaintext), but
 * required TLS when the route crosses networks (map and dns), where a stripped `<starttls/>` would
 * otherwise silently downgrade (RFC 7590 §3.1).
 */
export function hopTls(mode: UpstreamTls, route: Config['route']): HopTls {
  if (mode === 'auto') return route === 'fixed' ? 'opportunistic' : 'starttls';
  return mode;
}

/**
 * RFC 2782 ordering: ascending priority; within one priority, a weighted random draw without
 * replacement (weight 0 entries come last but may still be picked). `random()` in [0, 1).
 */
export function orderSrv<T extends SrvRecord>(records: readonly T[], random: () => number = Math.random): T[] {
  const byPriority = new Map<number, T[]>();
  for (const r of records) {
    const list = byPriority.get(r.priority) ?? [];
    list.push(r);
    byPriority.set(r.priority, list);
  }
  const out: T[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero weights first in the running sum, as RFC 2782 suggests, so they get a tiny chance.
    const pool = [...byPriority.get(priority)!].sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (pool.length > 0) {
      const total = pool.reduce((sum, r) => sum + r.weight, 0);
      const pick = total === 0 ? 0 : random() * total;
      let running = 0;
      let index = pool.length - 1;
      for (let i = 0; i < pool.length; i++) {
        running += pool[i]!.weight;
        if (running > pick) {
          index = i;
          break;
        }
      }
      if (total === 0) index = 0;
      out.push(pool.splice(index, 1)[0]!);
    }
  }
  return out;
}

export interface SrvAnswers {
  /** `_xmpps-client._tcp` records (direct TLS), or null when the lookup found none. */
  readonly xmpps: readonly SrvRecord[] | null;
  /** `_xmpp-client._tcp` records (STARTTLS), or null. */
  readonly xmpp: readonly SrvRecord[] | null;
}

/**
 * Targets for dns routing. Both SRV sets are merged and ordered together (XEP-0368 §3: by priority
 * and weight; a direct-TLS record wins a tie of priority only through its weight). A single record
 * with target "." means the service is decidedly not offered (RFC 2782). With no usable record at
 * all: the domain itself on 5222 with STARTTLS (RFC 6120 §3.2.1 fallback).
 */
export function dnsTargets(domain: string, answers: SrvAnswers, mode: UpstreamTls, checkAddresses: boolean, random: () => number = Math.random): Target[] {
  type Tagged = SrvRecord & { direct: boolean };
  const usable = (records: readonly SrvRecord[] | null, direct: boolean): Tagged[] => {
    if (records === null) return [];
    if (records.length === 1 && records[0]!.target === '') return [];
    return records.filter((r) => r.target !== '' && r.port !== 0).map((r) => ({ ...r, direct }));
  };
  // --upstream-tls direct/none restrict which records can serve at all.
  const xmpps = mode === 'none' ? [] : usable(answers.xmpps, true);
  const xmpp = mode === 'direct' ? [] : usable(answers.xmpp, false);
  const ordered = orderSrv([...xmpps, ...xmpp], random);
  const plain: HopTls = mode === 'none' ? 'none' : 'starttls';
  if (ordered.length === 0) {
    if (mode === 'direct') return [];
    return [{ host: domain, port: XMPP_CLIENT_PORT, tls: plain, checkAddresses, via: 'fallback' }];
  }
  return ordered.map((r) => ({
    host: r.target,
    port: r.port,
    tls: r.direct ? 'direct' : plain,
    checkAddresses,
    via: r.direct ? 'srv _xmpps-client' : 'srv _xmpp-client',
  }));
}

export function fixedTarget(upstream: HostPort, mode: UpstreamTls): Target {
  return { host: upstream.host, port: upstream.port, tls: hopTls(mode, 'fixed'), checkAddresses: false, via: 'fixed' };
}

export function mapTarget(entry: MapEntry, mode: UpstreamTls): Target {
  return { host: entry.target.host, port: entry.target.port, tls: hopTls(entry.tls ?? mode, 'map'), checkAddresses: false, via: 'map' };
}
