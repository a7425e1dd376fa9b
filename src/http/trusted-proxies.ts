/**
 * `--trusted-proxies` as a membership test: is this address a reverse proxy whose forwarding headers
 * may be believed? Asked several times per connection (the pending-handshake tracker, the client's
 * address, the public host), so it is on the setup path of every session.
 *
 * Node's `BlockList.check` builds a `SocketAddress` on every call: in the setup profile it cost more
 * than the rest of the admission checks together (bench/RESULTS.md, "Setup CPU"). IPv4 ranges, by
 * far the common case (a proxy on loopback or a private network), are compared here as 32-bit
 * numbers without allocating; IPv6 ranges stay with a BlockList.
 */
import { BlockList } from 'node:net';
import { parseCidr } from '../config';

export class TrustedProxies {
  /** IPv4 ranges as [network, mask] pairs of unsigned 32-bit numbers. */
  private readonly v4: number[] = [];
  private readonly v6: BlockList | null;

  /** @param ranges CIDR ranges or single addresses, already validated by the config (`parseCidr`). */
  constructor(ranges: readonly string[]) {
    let v6: BlockList | null = null;
    for (const raw of ranges) {
      const range = parseCidr(raw);
      if (range === null) throw new Error(`not a CIDR range: ${raw}`);
      if (range.family === 'ipv4') {
        const mask = range.prefix === 0 ? 0 : (0xffffffff << (32 - range.prefix)) >>> 0;
        this.v4.push((ipv4ToNumber(range.address)! & mask) >>> 0, mask);
      } else {
        v6 ??= new BlockList();
        v6.addSubnet(range.address, range.prefix, 'ipv6');
      }
    }
    this.v6 = v6;
  }

  /** Whether `address` (IPv4-mapped IPv6 already unwrapped, ./client-ip.ts) is in a trusted range. */
  has(address: string): boolean {
    const n = ipv4ToNumber(address);
    if (n !== null) {
      const v4 = this.v4;
      for (let i = 0; i < v4.length; i += 2) if ((n & v4[i + 1]!) >>> 0 === v4[i]) return true;
      return false;
    }
    // Anything else that is not an IPv6 address (garbage from a forwarding header) is not trusted.
    return this.v6 !== null && address.includes(':') && this.v6.check(address, 'ipv6');
  }
}

/**
 * A dotted-quad IPv4 address as an unsigned 32-bit number, or null when `s` is not one: exactly four
 * decimal octets 0–255 without leading zeros, the form `net.isIPv4` accepts.
 */
export function ipv4ToNumber(s: string): number | null {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e /* . */) {
      if (digits === 0 || dots === 3) return null;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return null; // a leading zero
      octet = octet * 10 + (c - 0x30);
      if (++digits > 3 || octet > 255) return null;
    } else {
      return null;
    }
  }
  if (digits === 0 || dots !== 3) return null;
  return value * 256 + octet;
}
