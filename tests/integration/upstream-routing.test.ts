/**
 * Routing without DNS servers: a fixed upstream given by name (resolved through /etc/hosts and the
 * cache), the static map (exact and wildcard entries, per-entry TLS, the allowlist), and the
 * resolver's TTL cache against a scripted UDP DNS server (answers expire with their TTL).
 */
import * as dgram from 'node:dgram';
import * as ltx from 'ltx';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { FakeServer, minimalServer } from '../helpers/fake-server';
import { TestClient, closeXml, openXml } from '../helpers/ws-client';
import type { Config } from '../../src/config';
import { DnsResolver } from '../../src/upstream/dns';
import { TYPE } from '../../src/upstream/dns-wire';

const servers: FakeServer[] = [];
const gateways: RunningGateway[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
  for (const s of servers.splice(0)) await s.close();
});

async function gw(overrides: Partial<Config>): Promise<RunningGateway> {
  const g = await startGateway({ connectTimeoutMs: 3000, ...overrides });
  gateways.push(g);
  return g;
}
async function fake(): Promise<FakeServer> {
  const s = await FakeServer.start(minimalServer());
  servers.push(s);
  return s;
}

async function openTo(g: RunningGateway, domain: string | null): Promise<{ features?: ltx.Element; condition?: string; text?: string }> {
  const c = await TestClient.open(g.url);
  c.send(domain === null ? '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" version="1.0"/>' : openXml(domain));
  await c.waitFor(2);
  const el = ltx.parse(c.messages[1]!);
  if (el.name === 'stream:error') {
    await c.closed;
    return { condition: el.children.find((x): x is ltx.Element => typeof x !== 'string' && x.name !== 'text')!.name, text: el.getChildText('text') ?? '' };
  }
  c.send(closeXml);
  await c.closed;
  return { features: el };
}

it('fixed route: an upstream given by name (localhost, from /etc/hosts)', async () => {
  const s = await fake();
  const g = await gw({ upstream: { host: 'localhost', port: s.port } });
  expect((await openTo(g, 'localhost')).features).toBeDefined();
  expect(s.connections).toHaveLength(1);
});

it('map route: exact and wildcard entries, each to its own server; others get host-unknown', async () => {
  const [a, b] = [await fake(), await fake()];
  const g = await gw({
    route: 'map',
    upstreamMap: [
      { domain: 'example.org', target: { host: '127.0.0.1', port: a.port }, tls: null },
      { domain: '*.example.net', target: { host: '127.0.0.1', port: b.port }, tls: 'none' },
    ],
  });
  expect((await openTo(g, 'Example.ORG')).features).toBeDefined();
  expect((await openTo(g, 'chat.example.net')).features).toBeDefined();
  expect(a.connections).toHaveLength(1);
  expect(b.connections).toHaveLength(1);
  expect(b.connections[0]!.received).toMatch(/to='chat.example.net'/);
  const other = await openTo(g, 'example.com');
  expect(other.condition).toBe('host-unknown');
  const none = await openTo(g, null);
  expect(none.condition).toBe('host-unknown');
  expect(none.text).toMatch(/names no valid domain/);
  const bare = await openTo(g, 'example.net');
  expect(bare.condition).toBe('host-unknown');
});

it('map route: a plaintext server where the map leaves TLS at auto → STARTTLS required → remote-connection-failed', async () => {
  const a = await fake();
  const g = await gw({ route: 'map', upstreamTls: 'auto', upstreamMap: [{ domain: 'example.org', target: { host: '127.0.0.1', port: a.port }, tls: null }] });
  const r = await openTo(g, 'example.org');
  expect(r.condition).toBe('remote-connection-failed');
  expect(r.text).toMatch(/did not offer STARTTLS/);
});

it('map route: --allowed-domains narrows the map', async () => {
  const a = await fake();
  const g = await gw({ route: 'map', allowedDomains: ['other.org'], upstreamMap: [{ domain: 'example.org', target: { host: '127.0.0.1', port: a.port }, tls: null }] });
  expect((await openTo(g, 'example.org')).condition).toBe('host-unknown');
  expect(a.connections).toHaveLength(0);
});

describe('the resolver cache', () => {
  /** A UDP DNS server answering every A query with 192.0.2.1, TTL 2 s, counting queries. */
  async function tinyDns(): Promise<{ port: number; count: () => number; close: () => void }> {
    const socket = dgram.createSocket('udp4');
    let count = 0;
    socket.on('message', (msg, rinfo) => {
      count++;
      const answer = Buffer.alloc(16);
      answer.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      answer.writeUInt16BE(TYPE.A, 2);
      answer.writeUInt16BE(1, 4);
      answer.writeUInt32BE(2, 6);
      answer.writeUInt16BE(4, 10);
      Buffer.from([192, 0, 2, 1]).copy(answer, 12);
      const reply = Buffer.concat([msg, answer]);
      reply.writeUInt16BE(0x8180, 2);
      reply.writeUInt16BE(1, 6);
      socket.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    return { port: socket.address().port, count: () => count, close: () => socket.close() };
  }

  it('one query per TTL, shared by concurrent lookups, asked again once it expires', async () => {
    const dns = await tinyDns();
    let now = 1_000_000;
    const resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: dns.port }], timeoutMs: 2000, maxEntries: 10, now: () => now });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => resolver.srv('x').then(() => resolver.addresses('a.example'))));
      expect(answers.every((a) => a.ok && a.records.includes('192.0.2.1'))).toBe(true);
      const afterFirst = dns.count();
      // 'x' SRV, then AAAA and A of a.example: one query each, whatever the concurrency.
      expect(afterFirst).toBe(3);
      now += 1500;
      await resolver.addresses('a.example');
      expect(dns.count()).toBe(afterFirst);
      now += 1000; // past the A record's 2 s TTL; the AAAA "no such record" stays for 30 s (no SOA)
      await resolver.addresses('a.example');
      expect(dns.count()).toBe(afterFirst + 1);
    } finally {
      dns.close();
    }
  });

  it('a silent server: timeout, not cached', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    const resolver = new DnsResolver({ servers: [{ host: '127.0.0.1', port: silent.address().port }], timeoutMs: 200, maxEntries: 10 });
    try {
      const r = await resolver.addresses('slow.example');
      expect(r).toMatchObject({ ok: false, reason: 'timeout' });
      expect(resolver.size).toBe(0);
    } finally {
      silent.close();
    }
  });
});
