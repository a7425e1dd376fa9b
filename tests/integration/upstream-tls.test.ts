/**
 * TLS to the server over real sockets: fake c2s servers that require STARTTLS or speak direct TLS
 * with certificates made by `openssl` at setup (tests/helpers/certs.ts), the real gateway in
 * between, raw `ws` clients. Covers the pre-client STARTTLS, verification failures, a server that
 * offers no STARTTLS, one that closes mid-negotiation, channel-binding stripping, a client's own
 * `<starttls/>`, and the PROXY protocol header.
 */
import * as net from 'node:net';
import * as ltx from 'ltx';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { TestClient, closeXml, openXml } from '../helpers/ws-client';
import { FakeServer, FEATURES_SASL, minimalServer } from '../helpers/fake-server';
import { makePki, type ServerCert, type TestPki } from '../helpers/certs';
import { FEATURES_TLS_REQUIRED, startDirectTlsFake, startTlsFake } from '../helpers/fake-tls-server';
import type { Config } from '../../src/config';

let pki: TestPki;
let good: ServerCert;
let wrongName: ServerCert;

beforeAll(() => {
  pki = makePki();
  good = pki.issue('good', ['localhost']);
  wrongName = pki.issue('wrong', ['other.example']);
});
afterAll(() => pki.remove());

const servers: FakeServer[] = [];
const gateways: RunningGateway[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
  for (const s of servers.splice(0)) await s.close();
});

async function gatewayFor(server: FakeServer, overrides: Partial<Config>): Promise<RunningGateway> {
  servers.push(server);
  const gw = await startGateway({ upstream: server.upstream, upstreamCa: pki.caFile, connectTimeoutMs: 3000, ...overrides });
  gateways.push(gw);
  return gw;
}

function condition(xml: string): string | null {
  const el = ltx.parse(xml);
  if (el.name !== 'stream:error') return null;
  return el.children.find((c): c is ltx.Element => typeof c !== 'string' && c.name !== 'text')?.name ?? null;
}

/** Sends `<open/>` and waits for the whole failure: [open], stream error, close, WebSocket close 1000. */
async function expectFailure(gw: RunningGateway, expected: string): Promise<string> {
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  const closed = await c.closed;
  expect(closed.code).toBe(1000);
  const error = c.messages.find((m) => m.startsWith('<stream:error'));
  expect(error).toBeDefined();
  expect(condition(error!)).toBe(expected);
  expect(c.messages[c.messages.length - 1]).toMatch(/^<close /);
  // Nothing of the negotiation leaks to the client.
  expect(c.messages.join('')).not.toMatch(/<(\w+:)?(starttls|proceed)[\s/>]/);
  await waitForNoSessions(gw);
  return ltx.parse(error!).getChildText('text') ?? '';
}

async function waitForNoSessions(gw: RunningGateway): Promise<void> {
  for (let i = 0; i < 200 && gw.gateway.sessionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(gw.gateway.sessionCount).toBe(0);
}

describe('STARTTLS negotiated by the gateway before the client sees features', () => {
  it.each(['auto', 'starttls'] as const)('--upstream-tls %s: the client sees only post-TLS features, without -PLUS or channel-binding lists', async (mode) => {
    const fake = await startTlsFake(good);
    const gw = await gatewayFor(fake.server, { upstreamTls: mode });
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    const [open, features] = await c.waitFor(2);
    expect(ltx.parse(open!).name).toBe('open');
    const f = ltx.parse(features!);
    expect(f.getChild('starttls')).toBeUndefined();
    expect(f.getChild('sasl-channel-binding')).toBeUndefined();
    expect(f.getChild('mechanisms')!.getChildren('mechanism').map((m) => m.getText())).toEqual(['SCRAM-SHA-256', 'PLAIN']);
    // Login goes on over the TLS hop.
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>");
    await c.waitForMatch(/<success/);
    c.send(openXml());
    await c.waitForMatch(/xmpp-bind/);
    c.send(closeXml);
    await c.closed;
    // The server saw our header and <starttls/> in plaintext, then the client's header over TLS.
    const raw = fake.server.connections[0]!;
    expect(raw.received).toMatch(/^<\?xml version='1.0'\?><stream:stream [^>]*to='localhost'[^>]*><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'\/>$/);
    expect(fake.secure[0]!.headers).toBe(2);
    expect(fake.secure[0]!.received).toMatch(/<auth /);
    expect(fake.alpn[0]).toBe(false);
    expect(fake.server.connections).toHaveLength(1);
    await waitForNoSessions(gw);
  });

  it('a certificate for another name: remote-connection-failed, the log says what did not match', async () => {
    const fake = await startTlsFake(wrongName);
    const gw = await gatewayFor(fake.server, { upstreamTls: 'auto' });
    const text = await expectFailure(gw, 'remote-connection-failed');
    expect(text).toMatch(/does not match localhost/);
    const line = gw.logs.find((l) => l.event === 'upstream_tls_failed');
    expect(String(line?.detail)).toMatch(/localhost.*other\.example|other\.example.*localhost/s);
    expect(gw.logs.find((l) => l.event === 'session_closed')?.reason).toBe('upstream_tls_failed');
    expect(fake.secure[0]?.received ?? '').toBe('');
  });

  it('a certificate from an unknown CA (no --upstream-ca): remote-connection-failed, not trusted', async () => {
    const fake = await startTlsFake(good);
    const gw = await gatewayFor(fake.server, { upstreamTls: 'starttls', upstreamCa: null });
    const text = await expectFailure(gw, 'remote-connection-failed');
    expect(text).toMatch(/not trusted/);
  });

  it('--upstream-tls-verify off: a wrong certificate is accepted, with a warning per session and a metric', async () => {
    const fake = await startTlsFake(wrongName);
    const gw = await gatewayFor(fake.server, { upstreamTls: 'starttls', upstreamTlsVerify: false });
    for (let i = 0; i < 2; i++) {
      const c = await TestClient.open(gw.url);
      c.send(openXml());
      await c.waitFor(2);
      c.send(closeXml);
      await c.closed;
    }
    expect(gw.logs.filter((l) => l.event === 'upstream_tls_unverified' && l.level === 40)).toHaveLength(2);
    const metrics = await gw.gateway.metrics.registry.metrics();
    expect(metrics).toMatch(/^xmppgw_upstream_tls_unverified_total 2$/m);
  });

  it('starttls required but the server offers none: remote-connection-failed', async () => {
    const plain = await FakeServer.start(minimalServer(FEATURES_SASL));
    const gw = await gatewayFor(plain, { upstreamTls: 'starttls' });
    const text = await expectFailure(gw, 'remote-connection-failed');
    expect(text).toMatch(/did not offer STARTTLS/);
    await plain.connections[0]!.closed;
  });

  it.each([
    ['close-before-proceed', /closed the connection while waiting for <proceed\/>/],
    ['close-after-proceed', /closed the connection during the TLS handshake/],
  ] as const)('the server closes in the middle (%s): remote-connection-failed, nothing leaks', async (onStartTls, message) => {
    const fake = await startTlsFake(good, { onStartTls });
    const gw = await gatewayFor(fake.server, { upstreamTls: 'auto' });
    const text = await expectFailure(gw, 'remote-connection-failed');
    expect(text).toMatch(message);
    expect(gw.logs.find((l) => l.event === 'session_closed')?.reason).toBe('upstream_negotiation_closed');
  });

  it('auto with a plaintext server: plain stream, one probe connection per interval, not per session', async () => {
    const plain = await FakeServer.start(minimalServer(FEATURES_SASL));
    const gw = await gatewayFor(plain, { upstreamTls: 'auto' });
    for (let i = 0; i < 2; i++) {
      const c = await TestClient.open(gw.url);
      c.send(openXml());
      const [, features] = await c.waitFor(2);
      expect(ltx.parse(features!).getChild('mechanisms')).toBeDefined();
      c.send(closeXml);
      await c.closed;
    }
    // Probe (left with </stream:stream>), first session, second session.
    expect(plain.connections).toHaveLength(3);
    expect(plain.connections[0]!.received).toMatch(/<stream:stream[^>]*><\/stream:stream>$/);
  });

  it('a client <starttls/> gets <failure/> and the stream ends; it never reaches the server', async () => {
    const fake = await startTlsFake(good);
    const gw = await gatewayFor(fake.server, { upstreamTls: 'starttls' });
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    expect(c.messages.slice(2)).toEqual(["<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", '<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>']);
    await fake.secure[0]!.closed;
    expect(fake.secure[0]!.received).not.toMatch(/starttls/);
    expect(fake.secure[0]!.gotFooter).toBe(true);
  });

  it('a <starttls> whose prefix the server declared on its stream header is still seen', async () => {
    const fake = await startTlsFake(good, { preFeatures: "<stream:features xmlns:tls='urn:ietf:params:xml:ns:xmpp-tls'><tls:starttls><tls:required/></tls:starttls></stream:features>" });
    const gw = await gatewayFor(fake.server, { upstreamTls: 'starttls' });
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    expect(fake.secure).toHaveLength(1);
    c.ws.close();
  });
});

describe('a client that leaves while the gateway is still negotiating', () => {
  it('the dial is cancelled: the half-negotiated server connection is closed, no session is left', async () => {
    // A server that accepts and never answers the gateway's stream header.
    const silent = await FakeServer.start(() => undefined);
    const gw = await gatewayFor(silent, { upstreamTls: 'starttls', connectTimeoutMs: 30_000 });
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    const conn = await silent.nextConnection(0);
    await conn.waitFor(/<stream:stream /);
    c.ws.terminate();
    await conn.closed;
    await waitForNoSessions(gw);
    expect(gw.logs.find((l) => l.event === 'session_closed')?.reason).toBe('client_gone');
  });
});

describe('direct TLS (XEP-0368)', () => {
  it('TLS from the first byte with ALPN xmpp-client, verified against the domain', async () => {
    const fake = await startDirectTlsFake(good);
    const gw = await gatewayFor(fake.server, { upstreamTls: 'direct' });
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    const [, features] = await c.waitFor(2);
    expect(ltx.parse(features!).getChild('mechanisms')!.getChildren('mechanism').map((m) => m.getText())).toEqual(['SCRAM-SHA-256', 'PLAIN']);
    expect(fake.alpn[0]).toBe('xmpp-client');
    expect(fake.secure[0]!.headers).toBe(1);
    c.send(closeXml);
    await c.closed;
  });

  it('a wrong certificate on direct TLS fails the same way', async () => {
    const fake = await startDirectTlsFake(wrongName);
    const gw = await gatewayFor(fake.server, { upstreamTls: 'direct' });
    expect(await expectFailure(gw, 'remote-connection-failed')).toMatch(/does not match/);
  });
});

describe('PROXY protocol header to the server', () => {
  /** A server that only records raw bytes. */
  async function recorder(): Promise<{ server: net.Server; port: number; bytes: () => Buffer }> {
    const chunks: Buffer[] = [];
    const server = net.createServer((socket) => {
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as net.AddressInfo).port, bytes: () => Buffer.concat(chunks) };
  }

  it.each([
    ['v1', (raw: Buffer) => expect(raw.toString('latin1')).toMatch(/^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\n<\?xml/)],
    ['v2', (raw: Buffer) => {
      expect(raw.subarray(0, 12).toString('hex')).toBe('0d0a0d0a000d0a515549540a');
      expect(raw[12]).toBe(0x21);
      expect(raw[13]).toBe(0x11);
      expect(raw.readUInt16BE(14)).toBe(12);
      expect([...raw.subarray(16, 20)]).toEqual([127, 0, 0, 1]);
      expect(raw.subarray(28).toString('latin1')).toMatch(/^<\?xml/);
    }],
  ] as const)('%s: the header comes first, then the stream', async (version, check) => {
    const rec = await recorder();
    try {
      const gw = await startGateway({ upstream: { host: '127.0.0.1', port: rec.port }, upstreamProxyProtocol: version });
      gateways.push(gw);
      const c = await TestClient.open(gw.url);
      c.send(openXml());
      for (let i = 0; i < 500 && !rec.bytes().includes('<stream:stream'); i++) await new Promise((r) => setTimeout(r, 10));
      check(rec.bytes());
      c.ws.close();
      await c.closed;
    } finally {
      rec.server.close();
    }
  });

  it('with STARTTLS, the header precedes the gateway\'s own pre-TLS stream', async () => {
    const fake = await startTlsFake(good);
    const gw = await gatewayFor(fake.server, { upstreamTls: 'starttls', upstreamProxyProtocol: 'v1' });
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    expect(fake.server.connections[0]!.received).toMatch(/^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\n<\?xml/);
    c.ws.close();
  });
});

describe('the server requires TLS but --upstream-tls none', () => {
  it('unsupported-feature, as before', async () => {
    const server = await FakeServer.start(minimalServer(FEATURES_TLS_REQUIRED));
    const gw = await gatewayFor(server, { upstreamTls: 'none' });
    expect(await expectFailure(gw, 'unsupported-feature')).toMatch(/requires STARTTLS/);
  });
});
