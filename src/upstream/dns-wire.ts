/**
 * The DNS wire format, only as much as routing needs (RFC 1035 §4, RFC 2782 SRV, RFC 3596 AAAA):
 * building one query, reading the answers back with their TTLs. Pure: no sockets, no clock.
 *
 * Node's `dns.Resolver` cannot serve here: `resolveSrv()` drops the TTL, and the gateway must cache
 * every answer for exactly its TTL (a reconnect storm must not resolve a name once per session).
 */

export const TYPE = Object.freeze({ A: 1, CNAME: 5, SOA: 6, AAAA: 28, SRV: 33 });
export type QueryType = typeof TYPE.A | typeof TYPE.AAAA | typeof TYPE.SRV;

/** RFC 1035 §4.1.1 RCODE values the resolver tells apart. */
export const RCODE = Object.freeze({ NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 });

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  /** Target host name, without the trailing dot; `.` (RFC 2782: "service decidedly not available") is ''. */
  readonly target: string;
}

export type RecordData = { readonly type: typeof TYPE.A | typeof TYPE.AAAA; readonly address: string } | ({ readonly type: typeof TYPE.SRV } & SrvRecord) | { readonly type: typeof TYPE.CNAME; readonly target: string };

export interface ResourceRecord {
  readonly name: string;
  readonly ttl: number;
  readonly data: RecordData;
}

export interface DnsResponse {
  readonly id: number;
  readonly rcode: number;
  /** TC bit: the answer did not fit in UDP; ask again over TCP (RFC 1035 §4.2.2, RFC 7766). */
  readonly truncated: boolean;
  readonly answers: readonly ResourceRecord[];
  /** RFC 2308 §5: how long a "no such name / no such record" answer may be cached (SOA TTL capped by its MINIMUM), or null. */
  readonly negativeTtl: number | null;
}

export class DnsFormatError extends Error {
  override name = 'DnsFormatError';
}

/** Lower-case, no trailing dot: how names are compared and cached. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** A recursive query for one name and type (RD set), RFC 1035 §4.1. */
export function encodeQuery(id: number, name: string, type: QueryType): Buffer {
  const labels = normalizeName(name).split('.').filter((l) => l.length > 0);
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(0x0100, 2); // standard query, recursion desired
  header.writeUInt16BE(1, 4); // QDCOUNT
  parts.push(header);
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length === 0 || bytes.length > 63) throw new DnsFormatError(`label "${label}" must be 1 to 63 bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2); // class IN
  parts.push(tail);
  const out = Buffer.concat(parts);
  if (out.length - 16 > 255) throw new DnsFormatError('name longer than 255 bytes');
  return out;
}

/** Reads a possibly compressed name (RFC 1035 §4.1.4) at `offset`; returns it and the offset after it. */
function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  // Each pointer must go strictly backwards, so a malicious loop cannot spin.
  let limit = offset;
  for (let guard = 0; guard < 128; guard++) {
    if (pos >= msg.length) throw new DnsFormatError('name runs past the message');
    const len = msg[pos]!;
    if (len === 0) {
      return { name: labels.join('.').toLowerCase(), next: next < 0 ? pos + 1 : next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= msg.length) throw new DnsFormatError('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (target >= limit) throw new DnsFormatError('compression pointer does not point backwards');
      if (next < 0) next = pos + 2;
      limit = target;
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError('unknown label type');
    if (pos + 1 + len > msg.length) throw new DnsFormatError('label runs past the message');
    labels.push(msg.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new DnsFormatError('name has too many labels');
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** Parses a response; answers of types other than A, AAAA, SRV and CNAME are skipped. */
export function decodeResponse(msg: Buffer): DnsResponse {
  if (msg.length < 12) throw new DnsFormatError('response shorter than a DNS header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new DnsFormatError('not a response (QR bit clear)');
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  const ns = msg.readUInt16BE(8);
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    pos = readName(msg, pos).next + 4;
  }
  const answers: ResourceRecord[] = [];
  let negativeTtl: number | null = null;
  for (let i = 0; i < an + ns; i++) {
    const { name, next } = readName(msg, pos);
    if (next + 10 > msg.length) throw new DnsFormatError('record header runs past the message');
    const type = msg.readUInt16BE(next);
    const ttl = msg.readUInt32BE(next + 4) & 0x7fffffff; // RFC 2181 §8: treat the top bit as zero
    const rdlength = msg.readUInt16BE(next + 8);
    const rd = next + 10;
    if (rd + rdlength > msg.length) throw new DnsFormatError('record data runs past the message');
    pos = rd + rdlength;
    if (i >= an) {
      // Authority section: only the SOA of a negative answer matters (RFC 2308 §5).
      if (type === TYPE.SOA) {
        const mname = readName(msg, rd);
        const rname = readName(msg, mname.next);
        if (rname.next + 20 <= rd + rdlength) negativeTtl = Math.min(ttl, msg.readUInt32BE(rname.next + 16));
      }
      continue;
    }
    if (type === TYPE.A && rdlength === 4) {
      answers.push({ name, ttl, data: { type: TYPE.A, address: `${msg[rd]}.${msg[rd + 1]}.${msg[rd + 2]}.${msg[rd + 3]}` } });
    } else if (type === TYPE.AAAA && rdlength === 16) {
      answers.push({ name, ttl, data: { type: TYPE.AAAA, address: ipv6(msg.subarray(rd, rd + 16)) } });
    } else if (type === TYPE.SRV && rdlength >= 7) {
      const target = readName(msg, rd + 6).name;
      answers.push({ name, ttl, data: { type: TYPE.SRV, priority: msg.readUInt16BE(rd), weight: msg.readUInt16BE(rd + 2), port: msg.readUInt16BE(rd + 4), target } });
    } else if (type === TYPE.CNAME) {
      answers.push({ name, ttl, data: { type: TYPE.CNAME, target: readName(msg, rd).name } });
    }
  }
  return { id, rcode: flags & 0x000f, truncated: (flags & 0x0200) !== 0, answers, negativeTtl };
}

/**
 * The records of `type` that answer `name`, following CNAMEs inside the response (RFC 1034 §3.6.2),
 * with the smallest TTL along the chain (a CNAME's TTL bounds how long what it points at is valid).
 */
export function answersFor(response: DnsResponse, name: string, type: QueryType): { records: RecordData[]; ttl: number } {
  let current = normalizeName(name);
  let ttl = Number.POSITIVE_INFINITY;
  for (let hops = 0; hops < 8; hops++) {
    const matching = response.answers.filter((r) => r.name === current && r.data.type === type);
    if (matching.length > 0) {
      for (const r of matching) ttl = Math.min(ttl, r.ttl);
      return { records: matching.map((r) => r.data), ttl };
    }
    const alias = response.answers.find((r) => r.name === current && r.data.type === TYPE.CNAME);
    if (alias === undefined || alias.data.type !== TYPE.CNAME) break;
    ttl = Math.min(ttl, alias.ttl);
    current = alias.data.target;
  }
  return { records: [], ttl: Number.isFinite(ttl) ? ttl : 0 };
}
