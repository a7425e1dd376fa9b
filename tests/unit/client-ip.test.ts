import { TrustedProxies } from '../../src/http/trusted-proxies';
import { clientAddress, normalizeAddress } from '../../src/http/client-ip';

const trusted = new TrustedProxies(['127.0.0.0/8', '::1/128', '10.0.0.0/8']);

describe('clientAddress', () => {
  it('uses the peer when it is not a trusted proxy, whatever the headers say', () => {
    expect(clientAddress('203.0.113.9', { 'x-forwarded-for': '1.1.1.1' }, trusted)).toBe('203.0.113.9');
  });
  it('believes X-Forwarded-For from a trusted proxy, rightmost untrusted hop', () => {
    expect(clientAddress('127.0.0.1', { 'x-forwarded-for': '198.51.100.7' }, trusted)).toBe('198.51.100.7');
    // A client-supplied first entry cannot win: the proxy appended the real peer.
    expect(clientAddress('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.1.1.1' }, trusted)).toBe('198.51.100.7');
  });
  it('reads RFC 7239 Forwarded, including quoted IPv6 with port', () => {
    expect(clientAddress('::1', { forwarded: 'for="[2001:db8::1]:4711";proto=https' }, trusted)).toBe('2001:db8::1');
    expect(clientAddress('::ffff:127.0.0.1', { forwarded: 'for=192.0.2.60:1234, for=10.0.0.2' }, trusted)).toBe('192.0.2.60');
  });
  it('falls back to the proxy on garbage or a missing header', () => {
    expect(clientAddress('127.0.0.1', { 'x-forwarded-for': 'unknown' }, trusted)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', {}, trusted)).toBe('127.0.0.1');
  });
  it('normalizes IPv4-mapped addresses', () => {
    expect(normalizeAddress('::ffff:192.0.2.1')).toBe('192.0.2.1');
  });
});
