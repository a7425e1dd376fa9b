import { ConfigError, parseCli } from '../../src/config';

const run = (argv: string[]) => {
  const r = parseCli(argv, {});
  if (r.kind !== 'run') throw new Error('expected run');
  return r.config;
};

describe('upstream settings', () => {
  it('defaults: fixed route, auto TLS, verification on, private answers refused, no PROXY header, system DNS', () => {
    const c = run([]);
    expect(c).toMatchObject({ route: 'fixed', upstreamTls: 'auto', upstreamTlsVerify: true, upstreamAllowPrivate: false, upstreamProxyProtocol: 'off', upstreamCa: null, dnsServers: [], dnsTimeoutMs: 5000, dnsCacheEntries: 10000 });
  });
  it('parses the map with optional per-domain TLS, and wildcards', () => {
    const c = run(['--route', 'map', '--upstream-map', 'Example.org=xmpp.example.org:5222, *.example.net=[::1]:5223/direct']);
    expect(c.upstreamMap).toEqual([
      { domain: 'example.org', target: { host: 'xmpp.example.org', port: 5222 }, tls: null },
      { domain: '*.example.net', target: { host: '::1', port: 5223 }, tls: 'direct' },
    ]);
  });
  it('parses DNS servers with and without ports', () => {
    expect(run(['--dns-server', '127.0.0.1:5353,::1']).dnsServers).toEqual([{ host: '127.0.0.1', port: 5353 }, { host: '::1', port: 53 }]);
  });
  it.each([
    [['--route', 'dns'], /needs --allowed-domains/],
    [['--route', 'map'], /needs --upstream-map/],
    [['--upstream-map', 'example.org'], /DOMAIN=HOST:PORT/],
    [['--upstream-map', 'example.org=h:5222/tls'], /DOMAIN=HOST:PORT/],
    [['--allowed-domains', 'exa mple.org'], /example.org or \*.example.org/],
    [['--dns-server', 'dns.example.org'], /IP\[:PORT\]/],
    [['--upstream-tls', 'maybe'], /auto, starttls, direct or none/],
    [['--upstream-tls-verify', 'nope'], /on or off/],
    [['--upstream-proxy-protocol', 'v3'], /off, v1 or v2/],
  ])('%j is refused at start-up', (argv, message) => {
    expect(() => parseCli(argv, {})).toThrow(ConfigError);
    expect(() => parseCli(argv, {})).toThrow(message);
  });
});
