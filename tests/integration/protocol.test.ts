/**
 * Every client-visible path of the gateway over real sockets: raw `ws` clients on one side, a
 * scripted TCP c2s server (tests/helpers/fake-server.ts) on the other.
 */
import * as http from 'node:http';
import * as ltx from 'ltx';
import WebSocket from 'ws';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { TestClient, closeXml, openXml, NS_FRAMING } from '../helpers/ws-client';
import {
  FakeServer,
  FEATURES_STARTTLS_OPTIONAL,
  FEATURES_STARTTLS_REQUIRED,
  SERVER_HEADER,
  closedPort,
  minimalServer,
} from '../helpers/fake-server';
import { startBlackhole } from '../helpers/blackhole';

let server: FakeServer;
let gw: RunningGateway;

beforeEach(async () => {
  server = await FakeServer.start();
  gw = await startGateway({ upstream: server.upstream, openTimeoutMs: 1000, connectTimeoutMs: 500, closeTimeoutMs: 500 });
});
afterEach(async () => {
  await gw.close();
  await server.close();
});

function httpGet(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    }).on('error', reject);
  });
}

/** The stream error condition in a message, or null. */
function streamErrorCondition(xml: string): string | null {
  const el = ltx.parse(xml);
  if (el.name !== 'stream:error') return null;
  const cond = el.children.find((c): c is ltx.Element => typeof c !== 'string' && c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-streams' && c.name !== 'text');
  return cond?.name ?? null;
}

/** Asserts the RFC 7395 error sequence: [open], stream error, close, WebSocket close 1000. */
async function expectStreamError(client: TestClient, condition: string, withOpen: boolean): Promise<string> {
  const closed = await client.closed;
  const msgs = client.messages;
  let i = 0;
  if (withOpen) expect(ltx.parse(msgs[i++]!).name).toBe('open');
  expect(streamErrorCondition(msgs[i]!)).toBe(condition);
  const text = ltx.parse(msgs[i++]!).getChildText('text') ?? '';
  expect(ltx.parse(msgs[i++]!).toString()).toBe(`<close xmlns="${NS_FRAMING}"/>`);
  expect(msgs).toHaveLength(i);
  expect(closed.code).toBe(1000);
  return text;
}

describe('handshake (RFC 7395 §3.1)', () => {
  it('replies with exactly "xmpp" even when offered second', async () => {
    const c = await TestClient.open(gw.url, ['chat', 'xmpp']);
    expect(c.ws.protocol).toBe('xmpp');
    c.ws.close();
  });

  it('refuses a handshake without "xmpp" with 400 and a reason', async () => {
    const c = new TestClient(gw.url, ['chat']);
    await expect(c.opened).rejects.toMatchObject({ statusCode: 400 });
    const res = await new Promise<http.IncomingMessage & { body?: string }>((resolve) => {
      const req = http.get(gw.url.replace('ws:', 'http:'), {
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => resolve(Object.assign(r, { body })));
      });
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/subprotocol "xmpp"/);
  });

  it('answers 404 for an upgrade on another path', async () => {
    const c = new TestClient(gw.url.replace('/xmpp-websocket', '/other'));
    await expect(c.opened).rejects.toMatchObject({ statusCode: 404 });
  });

  it('serves a short page for a plain GET on the path, 404 elsewhere, 405 for POST', async () => {
    const page = await httpGet(gw.url.replace('ws:', 'http:'));
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/XMPP over WebSocket endpoint \(RFC 7395\)/);
    expect((await httpGet(gw.url.replace('ws:', 'http:').replace('/xmpp-websocket', '/'))).status).toBe(404);
    const post = await new Promise<number>((resolve) => {
      const req = http.request(gw.url.replace('ws:', 'http:'), { method: 'POST' }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.end();
    });
    expect(post).toBe(405);
  });
});

describe('opening the stream', () => {
  it('translates <open/> to a stream header and the server header back to <open/>', async () => {
    const c = await TestClient.open(gw.url);
    c.send(`<open xmlns="${NS_FRAMING}" to="localhost" version="1.0" xml:lang="fr" id="ignored"/>`);
    const [open, features] = await c.waitFor(2);
    const conn = server.connections[0]!;
    expect(conn.received).toBe(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' xml:lang='fr'>",
    );
    expect(ltx.parse(open!).attrs).toEqual({ xmlns: NS_FRAMING, from: 'localhost', id: 's1', version: '1.0', 'xml:lang': 'en' });
    const f = ltx.parse(features!);
    expect(f.name).toBe('stream:features');
    expect(f.attrs['xmlns:stream']).toBe('http://etherx.jabber.org/streams');
    c.ws.close();
  });

  it('ends with connection-timeout when no <open/> comes in time', async () => {
    const c = await TestClient.open(gw.url);
    const text = await expectStreamError(c, 'connection-timeout', true);
    expect(text).toMatch(/no <open\/> within 1000 ms/);
    expect(server.connections).toHaveLength(0);
  });

  it('ends with invalid-namespace for <open/> in the wrong namespace', async () => {
    const c = await TestClient.open(gw.url);
    c.send('<open xmlns="jabber:client" to="localhost" version="1.0"/>');
    await expectStreamError(c, 'invalid-namespace', true);
  });

  it('ends with invalid-namespace for a classic <stream:stream> header', async () => {
    const c = await TestClient.open(gw.url);
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'/>");
    await expectStreamError(c, 'invalid-namespace', true);
  });

  it('ends with not-well-formed when the first message is not <open/>', async () => {
    const c = await TestClient.open(gw.url);
    c.send('<message xmlns="jabber:client"/>');
    await expectStreamError(c, 'not-well-formed', true);
    expect(server.connections).toHaveLength(0);
  });

  it('ends with not-well-formed for broken XML', async () => {
    const c = await TestClient.open(gw.url);
    c.send('<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="localhost"');
    await expectStreamError(c, 'not-well-formed', true);
  });
});

describe('upstream failures (RFC 7395 §3.5)', () => {
  it('refused → <open/>, remote-connection-failed, <close/>; the gateway keeps serving', async () => {
    const other = await startGateway({ upstream: { host: '127.0.0.1', port: await closedPort() } });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml('example.org'));
      const text = await expectStreamError(c, 'remote-connection-failed', true);
      expect(text).toMatch(/ECONNREFUSED/);
      expect(ltx.parse(c.messages[0]!).attrs.from).toBe('example.org');
      // Still serving.
      const again = await TestClient.open(other.url);
      again.send(openXml());
      await expectStreamError(again, 'remote-connection-failed', true);
    } finally {
      await other.close();
    }
  });

  it('connect timeout → remote-connection-failed', async () => {
    const hole = await startBlackhole();
    const other = await startGateway({ upstream: { host: '127.0.0.1', port: hole.port }, connectTimeoutMs: 300 });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      const text = await expectStreamError(c, 'remote-connection-failed', true);
      expect(text).toMatch(/within 300 ms/);
    } finally {
      await other.close();
      hole.close();
    }
  });

  it('server closing before its header → remote-connection-failed', async () => {
    const rude = await FakeServer.start((conn) => conn.socket.on('data', () => conn.socket.end()));
    const other = await startGateway({ upstream: rude.upstream });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      await expectStreamError(c, 'remote-connection-failed', true);
    } finally {
      await other.close();
      await rude.close();
    }
  });
});

describe('STARTTLS never reaches the client (RFC 7395 §3.9)', () => {
  it('drops an optional <starttls/> from the features', async () => {
    const tls = await FakeServer.start(minimalServer(FEATURES_STARTTLS_OPTIONAL));
    const other = await startGateway({ upstream: tls.upstream });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      const [, features] = await c.waitFor(2);
      const f = ltx.parse(features!);
      expect(f.getChild('starttls')).toBeUndefined();
      expect(f.getChild('mechanisms')?.getChildText('mechanism')).toBe('PLAIN');
      c.ws.close();
    } finally {
      await other.close();
      await tls.close();
    }
  });

  it('with --upstream-tls none, ends the session with unsupported-feature when the server requires it', async () => {
    const tls = await FakeServer.start(minimalServer(FEATURES_STARTTLS_REQUIRED));
    const other = await startGateway({ upstream: tls.upstream });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      await c.closed;
      expect(ltx.parse(c.messages[0]!).name).toBe('open');
      expect(streamErrorCondition(c.messages[1]!)).toBe('unsupported-feature');
      expect(c.messages[1]).toMatch(/requires STARTTLS/);
      expect(c.messages.join('')).not.toMatch(/starttls xmlns/);
      const conn = tls.connections[0]!;
      await conn.closed;
      expect(conn.gotFooter).toBe(true);
      expect(other.logs.some((l) => l.event === 'upstream_requires_starttls' && /--upstream-tls/.test(String(l.msg)))).toBe(true);
    } finally {
      await other.close();
      await tls.close();
    }
  });
});

describe('closing', () => {
  it('client <close/> → </stream:stream> upstream, server footer → <close/>, close 1000', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    c.send(closeXml);
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    expect(c.messages[c.messages.length - 1]).toBe(`<close xmlns="${NS_FRAMING}"/>`);
    const conn = server.connections[0]!;
    await conn.closed;
    expect(conn.gotFooter).toBe(true);
  });

  it('client <close/> with a silent server: <close/> after the close timeout', async () => {
    const silent = await FakeServer.start((conn) => conn.socket.once('data', () => conn.write(SERVER_HEADER('q'))));
    const other = await startGateway({ upstream: silent.upstream, closeTimeoutMs: 200 });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      await c.waitFor(1);
      const t0 = Date.now();
      c.send(closeXml);
      expect((await c.closed).code).toBe(1000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
      expect(c.messages[c.messages.length - 1]).toBe(`<close xmlns="${NS_FRAMING}"/>`);
      await silent.connections[0]!.closed;
      expect(silent.connections[0]!.gotFooter).toBe(true);
    } finally {
      await other.close();
      await silent.close();
    }
  });

  it('server </stream:stream> → <close/> and close 1000', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    server.connections[0]!.write('</stream:stream>');
    expect((await c.closed).code).toBe(1000);
    expect(c.messages[c.messages.length - 1]).toBe(`<close xmlns="${NS_FRAMING}"/>`);
  });

  it('server stream error is relayed standalone, then <close/>', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    server.connections[0]!.write("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
    expect((await c.closed).code).toBe(1000);
    expect(streamErrorCondition(c.messages[2]!)).toBe('conflict');
    expect(c.messages[3]).toBe(`<close xmlns="${NS_FRAMING}"/>`);
  });

  it('server TCP end without footer → <close/> and close 1000', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    server.connections[0]!.socket.end();
    expect((await c.closed).code).toBe(1000);
    expect(c.messages[c.messages.length - 1]).toBe(`<close xmlns="${NS_FRAMING}"/>`);
  });

  it('abnormal WebSocket end destroys upstream without </stream:stream> (XEP-0198 can resume)', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    c.ws.terminate();
    const conn = server.connections[0]!;
    await conn.closed;
    expect(conn.gotFooter).toBe(false);
  });

  it('WebSocket close without <close/> is also not a logout', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    c.ws.close(1001);
    const conn = server.connections[0]!;
    await conn.closed;
    expect(conn.gotFooter).toBe(false);
  });

  it('missed pongs end the session as abnormal', async () => {
    const other = await startGateway({ upstream: server.upstream, pingIntervalMs: 150 });
    try {
      const c = await TestClient.open(other.url, 'xmpp', { autoPong: false });
      c.send(openXml());
      await c.waitFor(2);
      const conn = server.connections[0]!;
      await conn.closed;
      expect(conn.gotFooter).toBe(false);
      expect((await c.closed).code).toBe(1006);
      expect(other.logs.some((l) => l.event === 'session_closed' && l.reason === 'ping_timeout')).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('a client answering pings stays connected', async () => {
    // A ping interval a loaded machine cannot miss by accident (a late pong read would end the
    // session), and three of them passing.
    const other = await startGateway({ upstream: server.upstream, pingIntervalMs: 1000 });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      await c.waitFor(2);
      await new Promise((r) => setTimeout(r, 3500));
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
      c.send(closeXml);
      expect((await c.closed).code).toBe(1000);
    } finally {
      await other.close();
    }
  });
});

describe('bad client input', () => {
  async function opened(): Promise<TestClient> {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    return c;
  }

  it.each([
    ['<message><body>x</message>', 'not-well-formed'],
    ['<message a="1" a="2"/>', 'not-well-formed'],
    ['hello', 'not-well-formed'],
    ['<foo:bar/>', 'not-well-formed'],
    ['<!-- hi --><message/>', 'restricted-xml'],
    ['<?php x?><message/>', 'restricted-xml'],
    // XML 1.0 §2.8: a declaration only as the message's very first bytes; elsewhere it is a PI.
    [" <?xml version='1.0'?><message/>", 'restricted-xml'],
    ["<message/><?xml version='1.0'?>", 'restricted-xml'],
    ['<!DOCTYPE x [<!ENTITY a "b">]><message/>', 'restricted-xml'],
    ['<message>&xxe;</message>', 'restricted-xml'],
    [`<open xmlns="jabber:client"/>`, 'invalid-namespace'],
  ])('%s → %s, and the server gets nothing of it but a clean end', async (xml, condition) => {
    const c = await opened();
    c.send(xml);
    await c.closed;
    expect(streamErrorCondition(c.messages[2]!)).toBe(condition);
    expect(c.messages[3]).toBe(`<close xmlns="${NS_FRAMING}"/>`);
    const conn = server.connections[0]!;
    await conn.closed;
    expect(conn.gotFooter).toBe(true);
    expect(conn.received).not.toContain(xml);
  });

  it('an element over --max-stanza-size → policy-violation', async () => {
    const other = await startGateway({ upstream: server.upstream, maxStanzaSize: 10_000 });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      await c.waitFor(2);
      c.send(`<message><body>${'x'.repeat(12_000)}</body></message>`);
      await c.closed;
      expect(streamErrorCondition(c.messages[2]!)).toBe('policy-violation');
    } finally {
      await other.close();
    }
  });

  it('a message over twice the limit is refused by ws with 1009 before buffering', async () => {
    const other = await startGateway({ upstream: server.upstream, maxStanzaSize: 10_000 });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml());
      await c.waitFor(2);
      c.send(`<message><body>${'x'.repeat(30_000)}</body></message>`);
      expect((await c.closed).code).toBe(1009);
      await server.connections[0]!.closed;
      expect(server.connections[0]!.gotFooter).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('binary message → close 1003', async () => {
    const c = await opened();
    c.send(Buffer.from('<message/>'), true);
    expect((await c.closed).code).toBe(1003);
  });

  it('invalid UTF-8 → close 1007', async () => {
    const c = await opened();
    // Bypass the client's own UTF-8 handling: a raw text frame with a lone continuation byte.
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    const payload = Buffer.from([0x3c, 0x61, 0x80, 0x2f, 0x3e]);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    expect((await c.closed).code).toBe(1007);
  });

  it('several elements in one message are forwarded in order', async () => {
    const c = await opened();
    c.send('<presence/> <message to="a@b"><body>1</body></message><message to="a@b"><body>2</body></message>');
    const conn = server.connections[0]!;
    await conn.waitFor(/<body>2<\/body><\/message>$/);
    expect(conn.received).toMatch(/<presence\/><message to="a@b"><body>1<\/body><\/message><message to="a@b"><body>2<\/body><\/message>$/);
    c.ws.close();
  });

  it('a message that starts with an XML declaration: the declaration is dropped, the elements forwarded', async () => {
    const c = await opened();
    c.send("<?xml version='1.0' encoding='UTF-8'?>\n<presence/>");
    const conn = server.connections[0]!;
    await conn.waitFor(/<presence\/>$/);
    expect(conn.received).not.toContain('<?xml version=\'1.0\' encoding');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });

  it('whitespace-only messages are ignored', async () => {
    const c = await opened();
    c.send('  \n');
    c.send('<presence/>');
    const conn = server.connections[0]!;
    await conn.waitFor(/<presence\/>$/);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });

  it('a pre-connect flood is bounded', async () => {
    const hole = await startBlackhole();
    const other = await startGateway({ upstream: { host: '127.0.0.1', port: hole.port }, connectTimeoutMs: 3000, preConnectQueueMessages: 4 });
    try {
      const c = await TestClient.open(other.url);
      c.send(openXml() + '<presence/>'.repeat(10));
      await c.closed;
      expect(streamErrorCondition(c.messages[1]!)).toBe('policy-violation');
    } finally {
      await other.close();
      hole.close();
    }
  });
});

describe('server output', () => {
  it('drops the XML declaration and whitespace keepalives; each element is one standalone message', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    const conn = server.connections[0]!;
    // Split awkwardly across TCP writes, with keepalives and multi-byte text.
    const parts = ['  \n <mess', "age from='a@b' to='c@d'><body>h\u00e9", 'llo \u{1F30D}</bo', 'dy></message>   <iq type="result" id="1"', '/> '];
    for (const p of parts) {
      conn.write(p);
      await new Promise((r) => setTimeout(r, 10));
    }
    await c.waitFor(4);
    expect(c.messages[2]).toBe("<message xmlns=\"jabber:client\" from='a@b' to='c@d'><body>h\u00e9llo \u{1F30D}</body></message>");
    expect(c.messages[3]).toBe('<iq xmlns="jabber:client" type="result" id="1"/>');
    c.ws.close();
  });

  it('bad XML from the server → internal-server-error to the client, the precise condition upstream', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    const conn = server.connections[0]!;
    conn.write('<message><!-- no --></message>');
    await c.closed;
    expect(streamErrorCondition(c.messages[2]!)).toBe('internal-server-error');
    await conn.closed;
    expect(conn.received).toMatch(/<stream:error><restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>.*<\/stream:error><\/stream:stream>$/);
  });

  it('a stanza with 200 attributes (and 200 on a child) is relayed intact in both directions', async () => {
    // Legal XML well under --max-stanza-size must pass whatever its attribute count (XML 1.0 §3.1).
    const attrs = (prefix: string): string => Array.from({ length: 200 }, (_, i) => ` ${prefix}${i}='${i}'`).join('');
    const inner = `<x xmlns='urn:test'${attrs('b')}>hi</x>`;
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    const conn = server.connections[0]!;
    const up = `<message to='a@b' id='up'${attrs('a')}>${inner}</message>`;
    c.send(up);
    await conn.waitFor(/id='up'[\s\S]*<\/message>$/);
    expect(conn.received.endsWith(up)).toBe(true);
    const down = `<message from='a@b' id='down'${attrs('a')}>${inner}</message>`;
    conn.write(down);
    const relayed = await c.waitForMatch(/id='down'/);
    expect(relayed).toBe(down.replace('<message ', '<message xmlns="jabber:client" '));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });

  it('a restart sends a new header on the same TCP connection', async () => {
    const c = await TestClient.open(gw.url);
    c.send(openXml());
    await c.waitFor(2);
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>");
    await c.waitForMatch(/<success/);
    c.send(openXml());
    await c.waitForMatch(/urn:ietf:params:xml:ns:xmpp-bind/);
    const opens = c.messages.filter((m) => m.startsWith('<open'));
    expect(opens.map((o) => ltx.parse(o).attrs.id)).toEqual(['s1', 's2']);
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0]!.headers).toBe(2);
    c.ws.close();
  });
});
