/**
 * DNS routing against a real DNS server (dnsmasq on a loopback port, tests/helpers/dnsmasq.ts) with
 * `--route dns --dns-server 127.0.0.1:PORT`: SRV targets tried in order past a dead one, weights, a
 * domain not allowed, a name that does not resolve, answers pointing at private or loopback
 * addresses refused by default, the TTL cache, and direct TLS from an `_xmpps-client` record
 * verified against the XMPP domain (not the SRV target).
 */
import * as ltx from 'ltx';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { FakeServer, closedPort, minimalServer } from '../helpers/fake-server';
import { startDnsmasq, type DnsmasqInstance } from '../helpers/dnsmasq';
import { makePki, type TestPki } from '../helpers/certs';
import { startDirectTlsFake, type TlsFake } from '../helpers/fake-tls-server';
import { TestClient, closeXml, openXml } from '../helpers/ws-client';
import type { Config } from '../../src/config';

let dns: DnsmasqInstance;
let live: FakeServer;
let heavy: FakeServer;
let light: FakeServer;
let secure: TlsFake;
let pki: TestPki;
const gateways: RunningGateway[] = [];

const ALLOWED = ['multi.test', 'weighted.test', 'nx.test', 'private.test', 'loop.test', 'secure.test', '*.sub.test'];

beforeAll(async () => {
  pki = makePki();
  [live, heavy, light] = await Promise.all([FakeServer.start(minimalServer()), FakeServer.start(minimalServer()), FakeServer.start(minimalServer())]);
  secure = await startDirectTlsFake(pki.issue('secure', ['secure.test']));
  const dead = await closedPort();
  dns = await startDnsmasq({
    hosts: [
      { name: 'dead.multi.test', address: '127.0.0.1' },
      { name: 'live.multi.test', address: '127.0.0.1' },
      { name: 'heavy.weighted.test', address: '127.0.0.1' },
      { name: 'light.weighted.test', address: '127.0.0.1' },
      { name: 'internal.private.test', address: '10.0.0.5' },
      { name: 'c2s.loop.test', address: '127.0.0.1' },
      { name: 'tls-target.secure.test', address: '127.0.0.1' },
      { name: 'chat.sub.test', address: '127.0.0.1' },
    ],
    srv: [
      { name: '_xmpp-client._tcp.multi.test', target: 'dead.multi.test', port: dead, priority: 1, weight: 0 },
      { name: '_xmpp-client._tcp.multi.test', target: 'live.multi.test', port: live.port, priority: 2, weight: 0 },
      { name: '_xmpp-client._tcp.weighted.test', target: 'light.weighted.test', port: light.port, priority: 5, weight: 0 },
      { name: '_xmpp-client._tcp.weighted.test', target: 'heavy.weighted.test', port: heavy.port, priority: 5, weight: 10 },
      { name: '_xmpp-client._tcp.private.test', target: 'internal.private.test', port: 5222, priority: 1, weight: 0 },
      { name: '_xmpp-client._tcp.loop.test', target: 'c2s.loop.test', port: live.port, priority: 1, weight: 0 },
      { name: '_xmpps-client._tcp.secure.test', target: 'tls-target.secure.test', port: secure.server.port, priority: 1, weight: 0 },
      { name: '_xmpp-client._tcp.chat.sub.test', target: 'chat.sub.test', port: live.port, priority: 1, weight: 0 },
    ],
  });
}, 60_000);

afterAll(async () => {
  for (const g of gateways) await g.close();
  await dns?.stop();
  for (const s of [live, heavy, light, secure?.server]) await s?.close();
  pki?.remove();
});

async function dnsGateway(overrides: Partial<Config> = {}): Promise<RunningGateway> {
  const gw = await startGateway({
    route: 'dns',
    dnsServers: [{ host: '127.0.0.1', port: dns.port }],
    allowedDomains: ALLOWED,
    // The fakes are plaintext; the TLS case sets its own mode.
    upstreamTls: 'none',
    // Every target in these tests is on loopback, which DNS routing refuses unless allowed.
    upstreamAllowPrivate: true,
    connectTimeoutMs: 3000,
    ...overrides,
  });
  gateways.push(gw);
  return gw;
}

/** Opens a stream to `domain`; resolves with the features, or with the stream error's condition and text. */
async function openTo(gw: RunningGateway, domain: string): Promise<{ features?: ltx.Element; error?: { condition: string; text: string } }> {
  const c = await TestClient.open(gw.url);
  c.send(openXml(domain));
  await c.waitFor(2, 10_000);
  const second = ltx.parse(c.messages[1]!);
  if (second.name === 'stream:error') {
    await c.closed;
    const condition = second.children.find((x): x is ltx.Element => typeof x !== 'string' && x.name !== 'text')!.name;
    return { error: { condition, text: second.getChildText('text') ?? '' } };
  }
  c.send(closeXml);
  await c.closed;
  return { features: second };
}

it('SRV targets in priority order: the first is dead, the second serves', async () => {
  const gw = await dnsGateway();
  const before = live.connections.length;
  const { features } = await openTo(gw, 'multi.test');
  expect(features?.getChild('mechanisms')).toBeDefined();
  expect(live.connections.length).toBe(before + 1);
  expect(live.connections[before]!.received).toMatch(/to='multi.test'/);
  expect(gw.logs.some((l) => l.event === 'upstream_attempt_failed' && /ECONNREFUSED connecting to dead\.multi\.test/.test(String(l.detail)))).toBe(true);
});

it('weights within one priority: weight 10 always beats weight 0 (RFC 2782 running sum)', async () => {
  const gw = await dnsGateway();
  for (let i = 0; i < 5; i++) expect((await openTo(gw, 'weighted.test')).features).toBeDefined();
  expect(heavy.connections).toHaveLength(5);
  expect(light.connections).toHaveLength(0);
});

it('a wildcard entry of the allowlist (*.sub.test) serves a subdomain', async () => {
  const gw = await dnsGateway();
  expect((await openTo(gw, 'chat.sub.test')).features).toBeDefined();
});

it('a domain not allowed gets host-unknown, without any DNS query', async () => {
  const gw = await dnsGateway();
  const { error } = await openTo(gw, 'evil.test');
  expect(error?.condition).toBe('host-unknown');
  expect(error?.text).toMatch(/evil\.test is not served/);
  expect(dns.queries('_xmpp-client._tcp.evil.test')).toBe(0);
});

it('a name that does not resolve: no SRV, then no address for the 5222 fallback → remote-connection-failed', async () => {
  const gw = await dnsGateway();
  const { error } = await openTo(gw, 'nx.test');
  expect(error?.condition).toBe('remote-connection-failed');
  expect(error?.text).toMatch(/nx\.test \(fallback\): nx\.test does not exist/);
  expect(dns.queries('_xmpp-client._tcp.nx.test', 'SRV')).toBe(1);
  expect(dns.queries('nx.test', 'A')).toBe(1);
});

it.each([
  ['private.test', /internal\.private\.test .*10\.0\.0\.5 \(private\)/],
  ['loop.test', /c2s\.loop\.test .*127\.0\.0\.1 \(loopback\)/],
])('by default an answer pointing at a special-purpose address is refused (%s): no connection is made', async (domain, text) => {
  const gw = await dnsGateway({ upstreamAllowPrivate: false });
  const before = live.connections.length;
  const { error } = await openTo(gw, domain);
  expect(error?.condition).toBe('remote-connection-failed');
  expect(error?.text).toMatch(text);
  expect(live.connections.length).toBe(before);
  expect(gw.logs.some((l) => l.event === 'upstream_address_refused')).toBe(true);
});

it('answers, negative ones included, are cached for their TTL: five sessions, one query per name and type', async () => {
  const gw = await dnsGateway();
  const asked = [
    ['_xmpps-client._tcp.chat.sub.test', 'SRV'],
    ['_xmpp-client._tcp.chat.sub.test', 'SRV'],
    ['chat.sub.test', 'A'],
    ['chat.sub.test', 'AAAA'],
  ] as const;
  const before = asked.map(([name, type]) => dns.queries(name, type));
  for (let i = 0; i < 5; i++) expect((await openTo(gw, 'chat.sub.test')).features).toBeDefined();
  // An earlier test used another gateway (its own cache): exactly one more query of each from this one.
  expect(asked.map(([name, type], i) => dns.queries(name, type) - before[i]!)).toEqual([1, 1, 1, 1]);
  const metrics = await gw.gateway.metrics.registry.metrics();
  expect(metrics).toMatch(/^xmppgw_dns_lookups_total\{result="cache_hit"\} 16$/m);
});

it('_xmpps-client: direct TLS, the certificate checked against the XMPP domain, not the SRV target', async () => {
  const gw = await dnsGateway({ upstreamTls: 'auto', upstreamCa: pki.caFile });
  const { features } = await openTo(gw, 'secure.test');
  expect(features?.getChild('mechanisms')).toBeDefined();
  expect(secure.alpn.at(-1)).toBe('xmpp-client');
});
