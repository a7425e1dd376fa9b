/**
 * The operations listener (startSingle: gateway + ops side by side, both on 127.0.0.1:0): liveness,
 * readiness and its three reasons to say no (upstream unreachable, at the connection limit,
 * draining), the routing rules, and that the public WebSocket port never serves the ops endpoints.
 *
 * The upstream here is a bare TCP listener the test can take down and bring back on the same port:
 * /readyz only checks that the XMPP server accepts TCP connections.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { startSingle, type SingleProcess } from '../../src/cluster';
import { defaultConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/logger';
import { TestClient } from '../helpers/ws-client';
import { waitUntil } from '../helpers/raw-xmpp';

const PROBE_INTERVAL_MS = 200;

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function request(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls /readyz until its status is `status`, for at most `timeoutMs`; returns that reply. */
async function readyzUntil(port: number, status: number, timeoutMs = 5000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  let last: Reply | null = null;
  for (;;) {
    last = await request(port, '/readyz');
    if (last.status === status) return last;
    if (Date.now() >= deadline) throw new Error(`/readyz still ${last.status} (${last.body.trim()}) after ${timeoutMs} ms; wanted ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A TCP listener that accepts and drops connections, and can be closed and reopened on its port. */
class Upstream {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  async open(): Promise<void> {
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const silent = createLogger('silent');

function configFor(upstreamPort: number, overrides: Partial<Config> = {}): Config {
  return defaultConfig({
    listen: { host: '127.0.0.1', port: 0 },
    metricsListen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: upstreamPort },
    upstreamProbeIntervalMs: PROBE_INTERVAL_MS,
    drainTimeoutMs: 5000,
    ...overrides,
  });
}

let upstream: Upstream;
let single: SingleProcess | undefined;
const clients: TestClient[] = [];

beforeEach(async () => {
  upstream = new Upstream();
  await upstream.open();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await single?.stop();
  single = undefined;
  await upstream.close();
});

async function start(overrides: Partial<Config> = {}): Promise<{ ops: number; pub: number }> {
  single = await startSingle(configFor(upstream.port, overrides), silent);
  // metricsListen 127.0.0.1:0 binds a port of its own, apart from the public one.
  expect(single.opsAddress).not.toBeNull();
  expect(single.opsAddress!.port).not.toBe(0);
  expect(single.opsAddress!.port).not.toBe(single.address.port);
  return { ops: single.opsAddress!.port, pub: single.address.port };
}

async function openClient(port: number): Promise<TestClient> {
  const c = new TestClient(`ws://127.0.0.1:${port}/xmpp-websocket`);
  clients.push(c);
  await c.opened;
  return c;
}

describe('/healthz and routing', () => {
  it('/healthz answers 200 ok; unknown paths 404; POST 405; HEAD works', async () => {
    const { ops } = await start();
    const health = await request(ops, '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toBe('ok\n');
    expect(health.headers['content-type']).toMatch(/^text\/plain/);
    // A query string does not change the route.
    expect((await request(ops, '/healthz?probe=k8s')).status).toBe(200);
    expect((await request(ops, '/metrics', 'HEAD')).status).toBe(200);

    for (const path of ['/', '/health', '/metrics/', '/xmpp-websocket', '/readyz/extra']) {
      const r = await request(ops, path);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(r.body).toMatch(/\/metrics, \/healthz, \/readyz/);
    }
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const r = await request(ops, path, 'POST');
      expect({ path, status: r.status }).toEqual({ path, status: 405 });
      expect(r.headers.allow).toBe('GET, HEAD');
    }
    expect((await request(ops, '/metrics', 'DELETE')).status).toBe(405);
  });

  it('the public WebSocket port does not serve /metrics, /healthz or /readyz', async () => {
    const { pub, ops } = await start();
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const r = await request(pub, path);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(r.body).not.toMatch(/xmppgw_|process_cpu/);
    }
    // ... while the ops port does.
    const metrics = await request(ops, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^xmppgw_build_info\{/m);
  });
});

describe('/readyz', () => {
  it('is 200 while upstream accepts TCP, 503 with the reason once its port is closed, and 200 again after it comes back', async () => {
    const { ops } = await start();
    const ready = await request(ops, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toBe('ready\n');
    expect(ready.headers['cache-control']).toBe('no-store');

    // The probe result is cached for PROBE_INTERVAL_MS: the change shows within the wait bound.
    await upstream.close();
    const down = await readyzUntil(ops, 503);
    expect(down.body).toBe(`upstream unreachable: ECONNREFUSED connecting to 127.0.0.1:${upstream.port}\n`);
    // Liveness is unaffected: the process itself is fine.
    expect((await request(ops, '/healthz')).status).toBe(200);

    await upstream.open(); // same port
    const up = await readyzUntil(ops, 200);
    expect(up.body).toBe('ready\n');
  });

  it('is 503 "at the connection limit" while --max-connections sessions are open, 200 once one closes', async () => {
    const { ops, pub } = await start({ maxConnections: 2 });
    const first = await openClient(pub);
    expect((await request(ops, '/readyz')).status).toBe(200);
    await openClient(pub);
    const full = await request(ops, '/readyz');
    expect(full.status).toBe(503);
    expect(full.body).toBe('at the connection limit (2)\n');

    first.ws.close();
    await first.closed;
    await waitUntil(() => single!.gateway.sessionCount === 1, 'one session left', 5000);
    expect((await readyzUntil(ops, 200)).body).toBe('ready\n');
  });

  it('is 503 "draining" as soon as gateway.drain() starts, while sessions are still open', async () => {
    const { ops, pub } = await start();
    const c = await openClient(pub);
    expect((await request(ops, '/readyz')).status).toBe(200);

    const drained = single!.gateway.drain(10_000);
    const draining = await request(ops, '/readyz');
    expect(draining.status).toBe(503);
    expect(draining.body).toBe('draining\n');
    // The session is not cut off by the drain's start; liveness stays 200.
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect(single!.gateway.sessionCount).toBe(1);
    expect((await request(ops, '/healthz')).status).toBe(200);

    // The last session leaving ends the drain long before its grace period; readiness stays 503.
    c.ws.close();
    const finished = await Promise.race([drained.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 5000).unref())]);
    expect(finished).toBe(true);
    expect((await request(ops, '/readyz')).body).toBe('draining\n');
  });
});
