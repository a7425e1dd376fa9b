/**
 * A small stub resolver with a TTL cache, for routing (RFC 6120 §3.2.1 SRV lookups, then A/AAAA).
 *
 * Every answer is kept for exactly its TTL (negative answers for their SOA's negative TTL, RFC 2308,
 * or NEGATIVE_TTL_WITHOUT_SOA_S when the server sent none),
 * and concurrent lookups of one name share one query: a reconnect storm of ten thousand sessions to
 * one domain costs one query per TTL, not ten thousand. Failures (timeouts, SERVFAIL) are not cached.
 * Queries go over UDP, and again over TCP when the answer is truncated (RFC 7766).
 */
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import * as net from 'node:net';
import { randomInt } from 'node:crypto';
import type { HostPort } from '../config';
import { RCODE, TYPE, answersFor, decodeResponse, encodeQuery, normalizeName, type QueryType, type RecordData, type SrvRecord, type DnsResponse } from './dns-wire';

export type LookupFailure = 'nxdomain' | 'nodata' | 'timeout' | 'error';

export type Lookup<T> =
  | { readonly ok: true; readonly records: readonly T[] }
  | { readonly ok: false; readonly reason: LookupFailure; readonly message: string };

/** Bounded label values for `xmppgw_dns_lookups_total{result}`. */
export type DnsLookupResult = 'cache_hit' | 'answered' | 'negative' | 'failed';

export interface ResolverOptions {
  /** Where queries go, in order (the next one on timeout or error). */
  readonly servers: readonly HostPort[];
  /** Per server and query. */
  readonly timeoutMs: number;
  /** Most cached answers; the oldest goes first. */
  readonly maxEntries: number;
  /** Counts lookups by result (a metric). */
  readonly onLookup?: (result: DnsLookupResult) => void;
  /** Names answered locally first (/etc/hosts, read once at start: `localhost`, container names). */
  readonly hosts?: ReadonlyMap<string, readonly string[]>;
  /** Milliseconds clock, injectable for tests. */
  readonly now?: () => number;
}

/** Longest time any answer is kept, whatever its TTL says (RFC 8767 §4 suggests capping at 7 days; a day is plenty). */
const MAX_TTL_S = 86_400;
const MAX_TCP_RESPONSE = 65_535;
/**
 * A negative answer without an SOA (RFC 2308 §5 says: do not cache it) is still kept this long: a
 * reconnect storm must not ask once per session "is there an _xmpps-client record?" of a server
 * that never publishes one. Short enough that a record added later is seen soon.
 */
export const NEGATIVE_TTL_WITHOUT_SOA_S = 30;

interface Entry<T> {
  readonly expires: number;
  readonly result: Lookup<T>;
}

/** The system's resolvers (from /etc/resolv.conf through Node), as host:port. */
export function systemDnsServers(): HostPort[] {
  return dns.getServers().map((s) => {
    const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(s);
    if (bracket) return { host: bracket[1]!, port: Number(bracket[2]) };
    const v4 = /^([\d.]+):(\d+)$/.exec(s);
    if (v4) return { host: v4[1]!, port: Number(v4[2]) };
    return { host: s, port: 53 };
  });
}

/** An /etc/hosts file (hosts(5)): name → addresses, in file order. Pure. */
export function parseHosts(text: string): Map<string, string[]> {
  const hosts = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [address, ...names] = line.split(/\s+/);
    if (address === undefined || net.isIP(address.replace(/%.*$/, '')) === 0) continue;
    for (const name of names) {
      const key = normalizeName(name);
      const list = hosts.get(key) ?? [];
      if (!list.includes(address)) list.push(address);
      hosts.set(key, list);
    }
  }
  return hosts;
}

export class DnsResolver {
  private readonly cache = new Map<string, Entry<unknown>>();
  private readonly inflight = new Map<string, Promise<Lookup<unknown>>>();
  private readonly now: () => number;

  constructor(private readonly opts: ResolverOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** SRV records of `name` (e.g. `_xmpp-client._tcp.example.org`), unsorted. */
  srv(name: string): Promise<Lookup<SrvRecord>> {
    return this.lookup<SrvRecord>(name, TYPE.SRV, (r) => (r.type === TYPE.SRV ? r : null));
  }

  /**
   * Every address of `host` (AAAA and A, IPv6 first as RFC 6724 prefers), or the host itself when it
   * is an IP literal.
   */
  async addresses(host: string): Promise<Lookup<string>> {
    if (net.isIP(host) !== 0) return { ok: true, records: [host] };
    const local = this.opts.hosts?.get(normalizeName(host));
    if (local !== undefined && local.length > 0) return { ok: true, records: local };
    const pick = (r: RecordData): string | null => (r.type === TYPE.A || r.type === TYPE.AAAA ? r.address : null);
    const [v6, v4] = await Promise.all([this.lookup(host, TYPE.AAAA, pick), this.lookup(host, TYPE.A, pick)]);
    const records = [...(v6.ok ? v6.records : []), ...(v4.ok ? v4.records : [])];
    if (records.length > 0) return { ok: true, records };
    // Both failed: report the more telling reason (a timeout beats "no such record").
    const failures = [v6, v4].filter((l): l is Extract<Lookup<string>, { ok: false }> => !l.ok);
    const worst = failures.find((f) => f.reason === 'timeout' || f.reason === 'error') ?? failures.find((f) => f.reason === 'nxdomain') ?? failures[0];
    return worst ?? { ok: false, reason: 'nodata', message: `${host} has no A or AAAA record` };
  }

  /** Cached entries, for tests and the debug log. */
  get size(): number {
    return this.cache.size;
  }

  private async lookup<T>(name: string, type: QueryType, pick: (r: RecordData) => T | null): Promise<Lookup<T>> {
    const key = `${type} ${normalizeName(name)}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.expires > this.now()) {
        this.opts.onLookup?.('cache_hit');
        return cached.result as Lookup<T>;
      }
      this.cache.delete(key);
    }
    let pending = this.inflight.get(key) as Promise<Lookup<T>> | undefined;
    if (pending === undefined) {
      pending = this.query(name, type, pick).then(({ result, ttl }) => {
        this.inflight.delete(key);
        if (ttl > 0) this.remember(key, { expires: this.now() + Math.min(ttl, MAX_TTL_S) * 1000, result });
        this.opts.onLookup?.(result.ok ? 'answered' : result.reason === 'nxdomain' || result.reason === 'nodata' ? 'negative' : 'failed');
        return result;
      });
      this.inflight.set(key, pending as Promise<Lookup<unknown>>);
    } else {
      this.opts.onLookup?.('cache_hit');
    }
    return pending;
  }

  private remember(key: string, entry: Entry<unknown>): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > this.opts.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  /** Asks each server in turn; returns the result and how long (s) it may be cached (0 = not at all). */
  private async query<T>(name: string, type: QueryType, pick: (r: RecordData) => T | null): Promise<{ result: Lookup<T>; ttl: number }> {
    const typeName = type === TYPE.SRV ? 'SRV' : type === TYPE.A ? 'A' : 'AAAA';
    let lastFailure: Lookup<T> = { ok: false, reason: 'error', message: 'no DNS server configured' };
    for (const server of this.opts.servers) {
      let response: DnsResponse;
      try {
        response = await exchange(server, name, type, this.opts.timeoutMs);
      } catch (err) {
        const timeout = (err as Error).name === 'DnsTimeout';
        lastFailure = { ok: false, reason: timeout ? 'timeout' : 'error', message: `${typeName} ${name} via ${server.host}:${server.port}: ${(err as Error).message}` };
        continue;
      }
      if (response.rcode === RCODE.NXDOMAIN) {
        return { result: { ok: false, reason: 'nxdomain', message: `${name} does not exist (NXDOMAIN)` }, ttl: response.negativeTtl ?? NEGATIVE_TTL_WITHOUT_SOA_S };
      }
      if (response.rcode !== RCODE.NOERROR) {
        lastFailure = { ok: false, reason: 'error', message: `${typeName} ${name} via ${server.host}:${server.port}: RCODE ${response.rcode}` };
        continue;
      }
      const { records, ttl } = answersFor(response, name, type);
      const picked = records.map(pick).filter((r): r is T => r !== null);
      if (picked.length === 0) {
        return { result: { ok: false, reason: 'nodata', message: `${name} has no ${typeName} record` }, ttl: response.negativeTtl ?? NEGATIVE_TTL_WITHOUT_SOA_S };
      }
      return { result: { ok: true, records: picked }, ttl };
    }
    return { result: lastFailure, ttl: 0 };
  }
}

class DnsTimeout extends Error {
  override name = 'DnsTimeout';
}

/** One question to one server: UDP first, TCP when the UDP answer is truncated. */
async function exchange(server: HostPort, name: string, type: QueryType, timeoutMs: number): Promise<DnsResponse> {
  const id = randomInt(0, 0x10000);
  const query = encodeQuery(id, name, type);
  const udp = await udpExchange(server, query, id, timeoutMs);
  if (!udp.truncated) return udp;
  return tcpExchange(server, query, id, timeoutMs);
}

function udpExchange(server: HostPort, query: Buffer, id: number, timeoutMs: number): Promise<DnsResponse> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => done(new DnsTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    const done = (err: Error | null, response?: DnsResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      if (err !== null) reject(err);
      else resolve(response!);
    };
    socket.on('error', (err) => done(err));
    socket.on('message', (msg, rinfo) => {
      // Only the server we asked, with our id: a spoofed or late datagram is ignored (RFC 5452 §9.1).
      if (rinfo.port !== server.port) return;
      try {
        const response = decodeResponse(msg);
        if (response.id === id) done(null, response);
      } catch {
        // malformed datagram: keep waiting for the real answer
      }
    });
    socket.send(query, server.port, server.host, (err) => {
      if (err) done(err);
    });
  });
}

function tcpExchange(server: HostPort, query: Buffer, id: number, timeoutMs: number): Promise<DnsResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port });
    const timer = setTimeout(() => done(new DnsTimeout(`no TCP answer within ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    let buffered = Buffer.alloc(0);
    const done = (err: Error | null, response?: DnsResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== null) reject(err);
      else resolve(response!);
    };
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error('DNS server closed the TCP connection without an answer')));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_TCP_RESPONSE + 2) return done(new Error('DNS answer too large'));
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) return;
      try {
        const response = decodeResponse(buffered.subarray(2, 2 + length));
        if (response.id !== id) return done(new Error('DNS answer with the wrong id'));
        done(null, response);
      } catch (err) {
        done(err as Error);
      }
    });
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(query.length, 0);
    socket.write(Buffer.concat([prefix, query]));
  });
}
