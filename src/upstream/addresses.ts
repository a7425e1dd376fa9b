/**
 * Which addresses a DNS answer may lead the gateway to (server-side request forgery protection).
 *
 * In DNS routing the target comes from the client (`<open to>`) and from whoever runs that domain's
 * DNS: without this check anyone could make the gateway open TCP connections into the operator's
 * own network (`_xmpp-client._tcp.evil.example` → 10.0.0.5:6379). So answers in the IANA
 * special-purpose registries (RFC 6890, iana-ipv4/ipv6-special-registry: loopback, private,
 * link-local, CGNAT, documentation, multicast, reserved, ...) are refused unless the operator
 * allows them (--upstream-allow-private). Pure: no I/O.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const SPECIAL_V4: readonly [string, number, string][] = [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared address space (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const SPECIAL_V6: readonly [string, number, string][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['64:ff9b::', 96, 'NAT64'],
  ['64:ff9b:1::', 48, 'local NAT64'],
  ['100::', 64, 'discard-only'],
  ['2001::', 23, 'IETF protocol assignments'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4'],
  ['fc00::', 7, 'unique local (private)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

const V4 = SPECIAL_V4.map(([net, prefix, why]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv4');
  return { list, why };
});
const V6 = SPECIAL_V6.map(([net, prefix, why]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv6');
  return { list, why };
});

/** An IPv4 address embedded as `::ffff:a.b.c.d` (or its hex form), or null. */
function mappedV4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1]!;
  const hex = /^(?:0{0,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$|^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return null;
  const hi = parseInt(hex[1] ?? hex[3]!, 16);
  const lo = parseInt(hex[2] ?? hex[4]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/**
 * Why `address` is special-purpose (e.g. "loopback"), or null for an ordinary global unicast
 * address. Anything that is not an IP address at all counts as special ("not an IP address").
 */
export function specialPurpose(address: string): string | null {
  if (isIPv4(address)) return V4.find((r) => r.list.check(address, 'ipv4'))?.why ?? (address === '255.255.255.255' ? 'broadcast' : null);
  if (isIPv6(address)) {
    // IPv4-mapped addresses reach the embedded IPv4 address: judge that one.
    const v4 = mappedV4(address);
    if (v4 !== null) return specialPurpose(v4);
    return V6.find((r) => r.list.check(address, 'ipv6'))?.why ?? null;
  }
  return 'not an IP address';
}
