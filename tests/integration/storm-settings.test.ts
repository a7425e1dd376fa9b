/**
 * The settings a reconnect storm depends on (bench/storm.js measures the storm itself), over real
 * sockets: --upstream-connect-rate (connections to the XMPP server beyond the rate wait their turn, in
 * order, none refused; a session whose turn does not come within --connect-timeout ends with
 * remote-connection-failed saying why) and --listen-backlog (the kernel's accept queue really has it).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { TestClient, openXml } from '../helpers/ws-client';
import { FakeServer } from '../helpers/fake-server';

let server: FakeServer;
let gw: RunningGateway | undefined;
const clients: TestClient[] = [];

beforeEach(async () => {
  server = await FakeServer.start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await gw?.close();
  gw = undefined;
  await server.close();
});

async function openSession(url: string): Promise<TestClient> {
  const c = await TestClient.open(url);
  clients.push(c);
  c.send(openXml());
  return c;
}

it('paces connections to the server: a burst of COUNT at once, the rest later, every session served', async () => {
  const WINDOW_MS = 600;
  gw = await startGateway({ upstream: server.upstream, upstreamConnectRate: { count: 2, windowMs: WINDOW_MS } });
  const t0 = Date.now();
  const sessions = await Promise.all(Array.from({ length: 5 }, () => openSession(gw!.url)));
  for (const c of sessions) await c.waitForMatch(/^<open /, 10_000);
  expect(server.connections).toHaveLength(5);
  // Two tokens at once, then one per WINDOW_MS/2: the fifth connection cannot exist before 3 refills.
  expect(Date.now() - t0).toBeGreaterThanOrEqual(3 * (WINDOW_MS / 2) - 20);
  const ok = (await gw.gateway.metrics.upstreamConnect.get()).values.find((v) => v.metricName?.endsWith('_count') && v.labels.result === 'ok');
  expect(ok?.value).toBe(5);
});

it('a session still waiting for its turn at --connect-timeout ends with remote-connection-failed naming the rate', async () => {
  gw = await startGateway({ upstream: server.upstream, upstreamConnectRate: { count: 1, windowMs: 60_000 }, connectTimeoutMs: 300 });
  const first = await openSession(gw.url);
  await first.waitForMatch(/^<open /);
  const second = await openSession(gw.url);
  const error = await second.waitForMatch(/<stream:error/);
  expect(error).toMatch(/<remote-connection-failed /);
  expect(error).toMatch(/waiting for its turn under --upstream-connect-rate/);
  await second.closed;
  expect(server.connections).toHaveLength(1);
  // The first session is unaffected.
  expect(first.ws.readyState).toBe(first.ws.OPEN);
});

it('--listen-backlog reaches listen(2): the kernel reports it as the listener\'s queue size', async () => {
  for (const backlog of [4096, 77]) {
    gw = await startGateway({ upstream: server.upstream, listenBacklog: backlog });
    // `ss -ltn`: for a listening socket, Send-Q is the backlog (capped by net.core.somaxconn).
    const line = execFileSync('ss', ['-Hltn', `sport = :${gw.port}`], { encoding: 'utf8' }).trim();
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(Number(line.split(/\s+/)[2])).toBe(Math.min(backlog, somaxconn));
    await gw.close();
    gw = undefined;
  }
});
