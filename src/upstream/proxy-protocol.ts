/**
 * PROXY protocol headers (HAProxy's "The PROXY protocol", versions 1 and 2), written before the
 * stream so the XMPP server learns the client's address instead of the gateway's: for its logs,
 * rate limits and IP bans (ejabberd `use_proxy_protocol: true`, Prosody `mod_net_proxy`). Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type ProxyProtocolVersion = 'v1' | 'v2';

export interface ProxyAddresses {
  /** The client, after trusted proxies. */
  readonly sourceAddress: string;
  /** 0 when unknown (a client seen only through X-Forwarded-For). */
  readonly sourcePort: number;
  /** Where the connection was headed: the XMPP server's address and port. */
  readonly destAddress: string;
  readonly destPort: number;
}

/** v2 signature (section 2.2): `\r\n\r\n\0\r\nQUIT\n`. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 2, command PROXY. */
const V2_PROXY = 0x21;
/** Address family and transport: TCP over IPv4 / IPv6. */
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/**
 * Both addresses in one family (the protocol carries one): IPv4 when both are IPv4 (or IPv4-mapped),
 * otherwise IPv6 with IPv4 addresses written as `::ffff:a.b.c.d`. Null when either is not an IP.
 */
export function sameFamily(a: ProxyAddresses): { family: 4 | 6; source: string; dest: string } | null {
  const source = unmapped(a.sourceAddress);
  const dest = unmapped(a.destAddress);
  if ((!isIPv4(source) && !isIPv6(source)) || (!isIPv4(dest) && !isIPv6(dest))) return null;
  if (isIPv4(source) && isIPv4(dest)) return { family: 4, source, dest };
  return { family: 6, source: isIPv4(source) ? `::ffff:${source}` : source, dest: isIPv4(dest) ? `::ffff:${dest}` : dest };
}

function validPort(port: number): number {
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : 0;
}

/** Version 1 (section 2.1): one human-readable line, at most 107 bytes. */
export function proxyHeaderV1(a: ProxyAddresses): Buffer {
  const f = sameFamily(a);
  // "PROXY UNKNOWN": the receiver must then use the connection's own addresses (section 2.1).
  if (f === null) return Buffer.from('PROXY UNKNOWN\r\n', 'ascii');
  return Buffer.from(`PROXY TCP${f.family} ${f.source} ${f.dest} ${validPort(a.sourcePort)} ${validPort(a.destPort)}\r\n`, 'ascii');
}

/** The 16 bytes of an IPv6 address (any textual form Node accepts). */
function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [x, y, z, w] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((x << 8) | y).toString(16)}:${((z << 8) | w).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, null];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === null || tail === '' ? [] : tail.split(':');
  const groups = tail === null ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Version 2 (section 2.2): binary; PROXY command over TCP, no TLVs. */
export function proxyHeaderV2(a: ProxyAddresses): Buffer {
  const f = sameFamily(a);
  if (f === null) {
    // LOCAL command, AF_UNSPEC: the receiver uses the connection's real addresses.
    return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  }
  const addrs =
    f.family === 4
      ? Buffer.concat([Buffer.from(f.source.split('.').map(Number)), Buffer.from(f.dest.split('.').map(Number))])
      : Buffer.concat([ipv6Bytes(f.source), ipv6Bytes(f.dest)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(validPort(a.sourcePort), 0);
  ports.writeUInt16BE(validPort(a.destPort), 2);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addrs.length + 4, 0);
  return Buffer.concat([V2_SIGNATURE, Buffer.from([V2_PROXY, f.family === 4 ? V2_TCP4 : V2_TCP6]), len, addrs, ports]);
}

export function proxyHeader(version: ProxyProtocolVersion, a: ProxyAddresses): Buffer {
  return version === 'v1' ? proxyHeaderV1(a) : proxyHeaderV2(a);
}
