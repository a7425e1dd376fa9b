import fc from 'fast-check';
import { BlockList, isIPv4 } from 'node:net';
import { TrustedProxies, ipv4ToNumber } from '../../src/http/trusted-proxies';

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));

describe('TrustedProxies', () => {
  it('answers like a BlockList of the same IPv4 ranges (the numeric path)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })), { maxLength: 4 }), fc.array(ipv4, { minLength: 1, maxLength: 8 }), (ranges, addresses) => {
        const ours = new TrustedProxies(ranges.map(([a, p]) => `${a}/${p}`));
        const node = new BlockList();
        for (const [a, p] of ranges) node.addSubnet(a, p, 'ipv4');
        for (const address of addresses) expect(ours.has(address)).toBe(node.check(address, 'ipv4'));
        // An address inside each range is found (its network address).
        for (const [a, p] of ranges) {
          const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
          const net = (ipv4ToNumber(a)! & mask) >>> 0;
          expect(ours.has([net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join('.'))).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('single addresses, IPv6 ranges, and what is not an address', () => {
    const t = new TrustedProxies(['127.0.0.0/8', '192.0.2.7', '::1/128', '2001:db8::/32']);
    expect(t.has('127.1.2.3')).toBe(true);
    expect(t.has('192.0.2.7')).toBe(true);
    expect(t.has('192.0.2.8')).toBe(false);
    expect(t.has('::1')).toBe(true);
    expect(t.has('2001:db8:1::5')).toBe(true);
    expect(t.has('2001:db9::5')).toBe(false);
    for (const bad of ['', 'unknown', '127.0.0', '127.0.0.1.5', '127.0.0.01', '127.0.0.256', ' 127.0.0.1', '127.0.0.1 ', ':::']) expect(t.has(bad)).toBe(false);
    expect(new TrustedProxies([]).has('127.0.0.1')).toBe(false);
    expect(new TrustedProxies(['0.0.0.0/0']).has('203.0.113.9')).toBe(true);
    expect(new TrustedProxies(['127.0.0.0/8']).has('::1')).toBe(false); // no IPv6 ranges at all
  });

  it('ipv4ToNumber reads exactly what net.isIPv4 accepts', () => {
    fc.assert(
      fc.property(fc.oneof(ipv4, fc.stringMatching(/^[0-9.]{0,17}$/), fc.string({ maxLength: 16 })), (s) => {
        const n = ipv4ToNumber(s);
        expect(n !== null).toBe(isIPv4(s));
        if (n !== null) expect(n).toBe(s.split('.').reduce((v, o) => v * 256 + Number(o), 0));
      }),
      { numRuns: 2000 },
    );
  });
});
