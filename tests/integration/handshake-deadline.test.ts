/**
 * Slow request heads (slowloris): a connection that has not completed its HTTP upgrade within
 * --handshake-timeout is answered 408 and closed, and one address may hold at most
 * --max-handshakes-per-ip connections still sending their head; the next is refused, while
 * complete handshakes are served. Real sockets, outcomes only (no wall-clock assertions).
 */
import * as net from 'node:net';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { TestClient, openXml } from '../helpers/ws-client';
import { FakeServer } from '../helpers/fake-server';

let server: FakeServer;
let gw: RunningGateway | null = null;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  server = await FakeServer.start();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await gw?.close();
  gw = null;
});
afterAll(async () => {
  await server.close();
});

/** A raw TCP connection to the gateway, recording what it is sent and when it closes. */
async function rawClient(port: number): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => text, closed };
}

/** A raw connection that sends the start of an upgrade request (the rest may trickle in later). */
async function slowClient(port: number): Promise<{ socket: net.Socket; received: () => string; closed: Promise<void> }> {
  const client = await rawClient(port);
  client.socket.write('GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
  return client;
}

/** Sends one more header line every `ms` until the socket closes (a slowloris that never finishes). */
function trickle(socket: net.Socket, ms: number): void {
  let n = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) clearInterval(timer);
    else socket.write(`X-Slow-${n++}: a\r\n`);
  }, ms);
  socket.once('close', () => clearInterval(timer));
}

async function handshakes(result: string): Promise<number> {
  const text = await gw!.gateway.metrics.registry.getSingleMetricAsString('xmppgw_ws_handshakes_total');
  const m = new RegExp(`result="${result}"\\} (\\d+)`).exec(text);
  return m === null ? 0 : Number(m[1]);
}

it('closes a connection whose request head is still incomplete at --handshake-timeout, with 408', async () => {
  gw = await startGateway({ upstream: server.upstream, handshakeTimeoutMs: 300, trustedProxies: [] });
  const slow = await slowClient(gw.port);
  trickle(slow.socket, 50); // bytes keep coming: only a deadline on the whole head ends it
  await slow.closed;
  expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
  expect(await handshakes('head_timeout')).toBe(1);
  // A complete handshake is served as usual.
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitForMatch(/<open /);
  c.ws.close();
});

it('closes a connection that sends nothing at all, with 408, at the same deadline', async () => {
  gw = await startGateway({ upstream: server.upstream, handshakeTimeoutMs: 300, trustedProxies: [] });
  const silent = await rawClient(gw.port);
  await silent.closed;
  expect(silent.received()).toMatch(/^HTTP\/1\.1 408 /);
  expect(await handshakes('head_timeout')).toBe(1);
});

it('answers 408 when a keep-alive connection is slow with a later request head', async () => {
  gw = await startGateway({ upstream: server.upstream, handshakeTimeoutMs: 300, trustedProxies: [] });
  const client = await rawClient(gw.port);
  // A complete plain request first: the deadline applies to the second head on its own.
  client.socket.write('GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await new Promise<void>((resolve) => {
    const check = (): void => (/This is an XMPP over WebSocket endpoint/.test(client.received()) ? resolve() : void client.socket.once('data', check));
    check();
  });
  const first = client.received();
  client.socket.write('GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  trickle(client.socket, 50);
  await client.closed;
  expect(first).toMatch(/^HTTP\/1\.1 200 /);
  expect(client.received().slice(first.length)).toMatch(/^HTTP\/1\.1 408 /);
  expect(await handshakes('head_timeout')).toBe(1);
});

it('refuses connections beyond --max-handshakes-per-ip while earlier ones are still sending their head', async () => {
  gw = await startGateway({ upstream: server.upstream, handshakeTimeoutMs: 60_000, maxHandshakesPerIp: 2, trustedProxies: [] });
  const first = await slowClient(gw.port);
  const second = await slowClient(gw.port);
  const third = await slowClient(gw.port);
  await third.closed;
  expect(third.received()).toMatch(/^HTTP\/1\.1 429 /);
  expect(await handshakes('pending_per_ip')).toBe(1);
  // The operator's warn line names the limit (once per address and limit per minute).
  expect(gw.logs.filter((l) => l.event === 'handshake_rejected' && l.level === 40)).toEqual([
    expect.objectContaining({ limit: 'max-handshakes-per-ip', limit_value: 2, status: 429, remote_addr: '127.0.0.1' }),
  ]);
  // The first two are still open and waiting.
  expect(first.socket.destroyed || second.socket.destroyed).toBe(false);
  // Once one of them completes its head, the address has room again: a full handshake is served.
  first.socket.write('\r\n'); // ends the head: not a valid WebSocket request, answered and done
  await first.closed;
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitForMatch(/<open /);
  c.ws.close();
});

it('does not count connections from --trusted-proxies per address', async () => {
  gw = await startGateway({ upstream: server.upstream, handshakeTimeoutMs: 60_000, maxHandshakesPerIp: 1, trustedProxies: ['127.0.0.1/32'] });
  const a = await slowClient(gw.port);
  const b = await slowClient(gw.port);
  // Both stay open; a complete handshake through the "proxy" still works.
  const c = await TestClient.open(gw.url);
  expect(a.socket.destroyed || b.socket.destroyed).toBe(false);
  c.ws.close();
});
