import { dnsTargets, domainAllowed, hopTls, mapLookup, matchesDomain, normalizeDomain, orderSrv } from '../../src/upstream/route';
import { specialPurpose } from '../../src/upstream/addresses';
import type { MapEntry } from '../../src/config';

const srv = (target: string, port: number, priority = 0, weight = 0) => ({ target, port, priority, weight });

describe('domains', () => {
  it('normalizes <open to>: lower case, no trailing dot; refuses IP literals and junk', () => {
    expect(normalizeDomain('Example.ORG.')).toBe('example.org');
    expect(normalizeDomain('10.0.0.1')).toBeNull();
    expect(normalizeDomain('[::1]')).toBeNull();
    expect(normalizeDomain('a b')).toBeNull();
    expect(normalizeDomain(undefined)).toBeNull();
  });
  it('allowlist: exact and *.example.org (subdomains only)', () => {
    expect(matchesDomain('example.org', 'example.org')).toBe(true);
    expect(matchesDomain('chat.example.org', '*.example.org')).toBe(true);
    expect(matchesDomain('a.b.example.org', '*.example.org')).toBe(true);
    expect(matchesDomain('example.org', '*.example.org')).toBe(false);
    expect(matchesDomain('badexample.org', '*.example.org')).toBe(false);
    expect(domainAllowed('evil.test', ['example.org', '*.example.org'])).toBe(false);
  });
  it('map: exact entries beat wildcards, the longest wildcard wins', () => {
    const entries: MapEntry[] = [
      { domain: '*.example.org', target: { host: 'wild', port: 1 }, tls: null },
      { domain: '*.eu.example.org', target: { host: 'eu', port: 2 }, tls: 'direct' },
      { domain: 'x.eu.example.org', target: { host: 'exact', port: 3 }, tls: null },
    ];
    expect(mapLookup('a.example.org', entries)?.target.host).toBe('wild');
    expect(mapLookup('a.eu.example.org', entries)?.target.host).toBe('eu');
    expect(mapLookup('x.eu.example.org', entries)?.target.host).toBe('exact');
    expect(mapLookup('example.net', entries)).toBeNull();
  });
  it('auto is opportunistic only for a fixed upstream', () => {
    expect(hopTls('auto', 'fixed')).toBe('opportunistic');
    expect(hopTls('auto', 'map')).toBe('starttls');
    expect(hopTls('auto', 'dns')).toBe('starttls');
    expect(hopTls('none', 'dns')).toBe('none');
  });
});

describe('SRV ordering (RFC 2782)', () => {
  it('ascending priority, whatever the weights', () => {
    const out = orderSrv([srv('c', 1, 20, 100), srv('a', 1, 10, 0), srv('b', 1, 10, 0)], () => 0);
    expect(out.map((r) => r.target)).toEqual(['a', 'b', 'c']);
  });
  it('within a priority, weight decides the odds', () => {
    const records = [srv('light', 1, 0, 1), srv('heavy', 1, 0, 9)];
    let seed = 1;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    let heavyFirst = 0;
    for (let i = 0; i < 2000; i++) if (orderSrv(records, random)[0]!.target === 'heavy') heavyFirst++;
    expect(heavyFirst).toBeGreaterThan(1600);
    expect(heavyFirst).toBeLessThan(1990);
  });
  it('the draw follows the running sum: random 0.95 of total 10 picks the second', () => {
    expect(orderSrv([srv('a', 1, 0, 5), srv('b', 1, 0, 5)], () => 0.95)[0]!.target).toBe('b');
    expect(orderSrv([srv('a', 1, 0, 5), srv('b', 1, 0, 5)], () => 0.1)[0]!.target).toBe('a');
  });
});

describe('DNS targets', () => {
  it('merges _xmpps-client (direct TLS) and _xmpp-client (STARTTLS) by priority', () => {
    const t = dnsTargets('example.org', { xmpps: [srv('tls.example.org', 5223, 5)], xmpp: [srv('c2s.example.org', 5222, 10), srv('first.example.org', 5222, 1)] }, 'auto', true, () => 0);
    expect(t.map((x) => `${x.host}:${x.port}/${x.tls}`)).toEqual(['first.example.org:5222/starttls', 'tls.example.org:5223/direct', 'c2s.example.org:5222/starttls']);
    expect(t.every((x) => x.checkAddresses)).toBe(true);
  });
  it('no records: the domain on 5222 (RFC 6120 §3.2.1); "." means not offered', () => {
    expect(dnsTargets('example.org', { xmpps: null, xmpp: null }, 'auto', true)).toEqual([{ host: 'example.org', port: 5222, tls: 'starttls', checkAddresses: true, via: 'fallback' }]);
    expect(dnsTargets('example.org', { xmpps: [srv('', 0)], xmpp: [srv('c2s.example.org', 5222)] }, 'auto', true).map((x) => x.host)).toEqual(['c2s.example.org']);
  });
  it('--upstream-tls direct uses only _xmpps-client; none only _xmpp-client', () => {
    const answers = { xmpps: [srv('tls', 5223)], xmpp: [srv('plain', 5222)] };
    expect(dnsTargets('d', answers, 'direct', true).map((x) => x.host)).toEqual(['tls']);
    expect(dnsTargets('d', answers, 'none', true).map((x) => `${x.host}/${x.tls}`)).toEqual(['plain/none']);
    expect(dnsTargets('d', { xmpps: null, xmpp: answers.xmpp }, 'direct', true)).toEqual([]);
  });
});

describe('special-purpose addresses (SSRF protection)', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['10.1.2.3', 'private'], ['172.20.0.1', 'private'], ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'], ['100.64.0.1', 'shared address space (CGNAT)'], ['0.0.0.0', 'this network'],
    ['224.0.0.1', 'multicast'], ['255.255.255.255', 'reserved'], ['::1', 'loopback'], ['::', 'unspecified'],
    ['fd00::1', 'unique local (private)'], ['fe80::1', 'link-local'], ['::ffff:10.0.0.1', 'private'],
    ['::ffff:7f00:1', 'loopback'], ['2001:db8::1', 'documentation'], ['ff02::1', 'multicast'], ['example.org', 'not an IP address'],
  ])('%s is %s', (address, why) => {
    expect(specialPurpose(address)).toBe(why);
  });
  it.each(['8.8.8.8', '1.1.1.1', '2a00:1450:4001::1', '::ffff:8.8.8.8'])('%s is ordinary', (address) => {
    expect(specialPurpose(address)).toBeNull();
  });
});
