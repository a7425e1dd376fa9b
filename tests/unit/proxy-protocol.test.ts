import { proxyHeaderV1, proxyHeaderV2, sameFamily } from '../../src/upstream/proxy-protocol';

const SIG = '0d0a0d0a000d0a515549540a';

describe('PROXY protocol v1', () => {
  it('TCP4 with both ports', () => {
    expect(proxyHeaderV1({ sourceAddress: '203.0.113.7', sourcePort: 51000, destAddress: '198.51.100.2', destPort: 5222 }).toString()).toBe('PROXY TCP4 203.0.113.7 198.51.100.2 51000 5222\r\n');
  });
  it('IPv4-mapped IPv6 addresses are written as IPv4', () => {
    expect(proxyHeaderV1({ sourceAddress: '::ffff:127.0.0.1', sourcePort: 1, destAddress: '127.0.0.1', destPort: 2 }).toString()).toBe('PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n');
  });
  it('mixed families become TCP6 with the IPv4 side mapped', () => {
    expect(proxyHeaderV1({ sourceAddress: '203.0.113.7', sourcePort: 1, destAddress: '2001:db8::1', destPort: 5222 }).toString()).toBe('PROXY TCP6 ::ffff:203.0.113.7 2001:db8::1 1 5222\r\n');
  });
  it('an unknown port is 0; a non-IP source gives PROXY UNKNOWN', () => {
    expect(proxyHeaderV1({ sourceAddress: '203.0.113.7', sourcePort: NaN, destAddress: '127.0.0.1', destPort: 5222 }).toString()).toBe('PROXY TCP4 203.0.113.7 127.0.0.1 0 5222\r\n');
    expect(proxyHeaderV1({ sourceAddress: 'unknown', sourcePort: 0, destAddress: '127.0.0.1', destPort: 5222 }).toString()).toBe('PROXY UNKNOWN\r\n');
  });
  it('stays within the 107-byte maximum for the longest IPv6 addresses', () => {
    const a = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    expect(proxyHeaderV1({ sourceAddress: a, sourcePort: 65535, destAddress: a, destPort: 65535 }).length).toBeLessThanOrEqual(107);
  });
});

describe('PROXY protocol v2', () => {
  it('TCP over IPv4: signature, PROXY command, family, length 12, addresses, ports', () => {
    const h = proxyHeaderV2({ sourceAddress: '203.0.113.7', sourcePort: 51000, destAddress: '198.51.100.2', destPort: 5222 });
    expect(h.toString('hex')).toBe(`${SIG}2111000ccb007107c6336402c7381466`);
  });
  it('TCP over IPv6, with :: expansion and mapped IPv4', () => {
    const h = proxyHeaderV2({ sourceAddress: '2001:db8::7', sourcePort: 1, destAddress: '::ffff:192.0.2.1', destPort: 5222 });
    expect(h.length).toBe(16 + 36);
    expect(h.subarray(12, 16).toString('hex')).toBe('21210024');
    expect(h.subarray(16, 32).toString('hex')).toBe('20010db8000000000000000000000007');
    // Both IPv6 after sameFamily? No: the destination is IPv4-mapped, the source IPv6, so IPv6 both.
    expect(h.subarray(32, 48).toString('hex')).toBe('00000000000000000000ffffc0000201');
    expect(h.readUInt16BE(48)).toBe(1);
    expect(h.readUInt16BE(50)).toBe(5222);
  });
  it('LOCAL with AF_UNSPEC when an address is not an IP', () => {
    expect(proxyHeaderV2({ sourceAddress: 'x', sourcePort: 0, destAddress: '127.0.0.1', destPort: 1 }).toString('hex')).toBe(`${SIG}20000000`);
  });
  it('sameFamily reports null for non-IP input', () => {
    expect(sameFamily({ sourceAddress: 'a', sourcePort: 0, destAddress: 'b', destPort: 0 })).toBeNull();
  });
});
