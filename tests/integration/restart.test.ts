/**
 * Stream restarts (RFC 6120 §4.3.3, RFC 7395 §3.7) are accepted only right after the server's SASL
 * `<success/>` (§6.4.6), whatever its prefix; any other `<open/>` (or legacy `<stream:stream>`
 * header) is the client's error: not-authorized to the client, `</stream:stream>` to the server,
 * and the log and metric say origin `client`.
 */
import * as ltx from 'ltx';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { FakeServer, FEATURES_BIND, FEATURES_SASL, SERVER_HEADER, minimalServer, type Behaviour } from '../helpers/fake-server';
import { TestClient, openXml } from '../helpers/ws-client';
import { waitUntil } from '../helpers/raw-xmpp';

const AUTH = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>";

let server: FakeServer;
let gw: RunningGateway;

async function start(behaviour: Behaviour = minimalServer()): Promise<void> {
  server = await FakeServer.start(behaviour);
  gw = await startGateway({ upstream: server.upstream, closeTimeoutMs: 300 });
}
afterEach(async () => {
  await gw?.close();
  await server?.close();
});

async function metric(condition: string, origin: string): Promise<number> {
  const text = await gw.gateway.metrics.registry.getSingleMetricAsString('xmppgw_stream_errors_total');
  const m = new RegExp(`xmppgw_stream_errors_total\\{condition="${condition}",origin="${origin}"\\} (\\d+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** The client was told not-authorized and the stream closed; the server got the footer; the log blames the client. */
async function expectRefusedRestart(c: TestClient): Promise<void> {
  const closed = await c.closed;
  expect(closed.code).toBe(1000);
  const error = c.messages.map((m) => ltx.parse(m)).find((el) => el.name === 'stream:error');
  expect(error?.getChild('not-authorized', 'urn:ietf:params:xml:ns:xmpp-streams')).toBeDefined();
  await waitUntil(() => server.connections[0]!.gotFooter, 'the footer upstream', 5000);
  const closedLog = await (async () => {
    await waitUntil(() => gw.logs.some((l) => l.event === 'session_closed'), 'session_closed', 5000);
    return gw.logs.find((l) => l.event === 'session_closed')!;
  })();
  expect(closedLog).toMatchObject({ reason: 'client_unexpected_restart', origin: 'client', condition: 'not-authorized' });
  expect(await metric('not-authorized', 'client')).toBe(1);
  // The server is never blamed.
  expect(gw.logs.some((l) => l.event === 'upstream_stream_error' || l.reason === 'upstream_bad_xml')).toBe(false);
}

it('a second <open/> before authentication is refused with not-authorized', async () => {
  await start();
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitForMatch(/mechanisms/);
  c.send(openXml());
  await expectRefusedRestart(c);
  // The refused header never reached the server.
  expect(server.connections[0]!.headers).toBe(1);
});

it('a restart right after <success/> is relayed; a second one without a new success is refused', async () => {
  await start();
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitForMatch(/mechanisms/);
  c.send(AUTH);
  await c.waitForMatch(/<success/);
  c.send(openXml());
  await c.waitForMatch(/xmpp-bind/);
  expect(server.connections[0]!.headers).toBe(2);
  c.send(openXml());
  await expectRefusedRestart(c);
  expect(server.connections[0]!.headers).toBe(2);
});

it('<success/> is recognised with its prefix declared on the stream header (tests/unit/server-step.test.ts: on the element)', async () => {
  // A server that answers SASL with a prefixed <success/>, its prefix declared on the stream header.
  const prefixed: Behaviour = (conn) => {
    let headers = 0;
    conn.socket.on('data', () => {
      const seen = (conn.received.match(/<stream:stream/g) ?? []).length;
      if (seen > headers) {
        headers = seen;
        const header = SERVER_HEADER(`s${headers}`).replace(/>$/, " xmlns:sasl='urn:ietf:params:xml:ns:xmpp-sasl'>");
        conn.write(header + (headers === 1 ? FEATURES_SASL : FEATURES_BIND));
      }
      if (/<auth[\s\S]*<\/auth>/.test(conn.received) && !conn.received.includes('<!--answered-->')) {
        conn.received += '<!--answered-->';
        conn.write('<sasl:success/>');
      }
    });
  };
  await start(prefixed);
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitForMatch(/mechanisms/);
  c.send(AUTH);
  const success = await c.waitForMatch(/success/);
  expect(ltx.parse(success).is('success', 'urn:ietf:params:xml:ns:xmpp-sasl')).toBe(true);
  c.send(openXml());
  await c.waitForMatch(/xmpp-bind/);
  expect(c.ws.readyState).toBe(c.ws.OPEN);
  c.ws.close();
});

it('a <success/> in another namespace does not allow a restart', async () => {
  const impostor: Behaviour = (conn) => {
    conn.socket.on('data', () => {
      if (conn.received.includes('<stream:stream') && !conn.received.includes('<!--sent-->')) {
        conn.received += '<!--sent-->';
        conn.write(SERVER_HEADER('s1') + FEATURES_SASL + "<success xmlns='urn:example:not-sasl'/>");
      }
    });
  };
  await start(impostor);
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitForMatch(/urn:example:not-sasl/);
  c.send(openXml());
  await expectRefusedRestart(c);
});

it('legacy framing follows the same rule', async () => {
  await start();
  const header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
  const c = await TestClient.open(gw.url);
  c.send(header);
  await c.waitForMatch(/mechanisms/);
  c.send(header);
  const closed = await c.closed;
  expect(closed.code).toBe(1000);
  const all = c.messages.join('');
  expect(all).toContain("<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
  expect(all.endsWith('</stream:stream>')).toBe(true);
  await waitUntil(() => server.connections[0]!.gotFooter, 'the footer upstream', 5000);
  expect(server.connections[0]!.headers).toBe(1);
});

it('legacy framing: a restart after <success/> is relayed', async () => {
  await start();
  const header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
  const c = await TestClient.open(gw.url);
  c.send(header);
  await c.waitForMatch(/mechanisms/);
  c.send(AUTH);
  await c.waitForMatch(/<success/);
  c.send(header);
  await c.waitForMatch(/xmpp-bind/);
  expect(server.connections[0]!.headers).toBe(2);
  c.ws.close();
});
