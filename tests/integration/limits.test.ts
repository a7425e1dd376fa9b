/**
 * Every admission and session limit, over real sockets on 127.0.0.1: the connection cap (503), the
 * per-IP cap and new-connection rate (429), the Origin allow-list (403), the request-head size (431),
 * which peers may speak for a client with X-Forwarded-For, the idle timeout, and the per-session byte
 * rate (reads paused, nothing dropped). Each refusal is checked as a client sees it: status, a
 * plain-text reason and, where the client should come back later, Retry-After.
 *
 * Two client addresses on one machine: Linux routes all of 127.0.0.0/8 to loopback, so a client
 * socket bound to 127.0.0.2 reaches the gateway on 127.0.0.1 from a different address.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type WebSocket from 'ws';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { TestClient, closeXml, openXml } from '../helpers/ws-client';
import { FakeServer, type FakeConnection } from '../helpers/fake-server';
import { NS_CLIENT, NS_STREAMS, parseStandalone, waitUntil } from '../helpers/raw-xmpp';
import type { HandshakeResult, PauseSide } from '../../src/metrics';

const OTHER_IP = '127.0.0.2';

let server: FakeServer;
let gw: RunningGateway | undefined;
/** Every client a test opened, terminated after it whatever happened. */
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

type Attempt =
  | { readonly accepted: true; readonly client: TestClient }
  | { readonly accepted: false; readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly body: string };

/**
 * One WebSocket handshake with subprotocol "xmpp": either the open client, or the HTTP refusal with
 * its status, headers and body (ws hands the response over on 'unexpected-response').
 */
function attempt(url: string, options: WebSocket.ClientOptions = {}, timeoutMs = 5000): Promise<Attempt> {
  const client = new TestClient(url, 'xmpp', options);
  clients.push(client);
  return new Promise<Attempt>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`handshake to ${url} neither opened nor was refused within ${timeoutMs} ms`)), timeoutMs);
    client.ws.once('unexpected-response', (_req: http.ClientRequest, res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        clearTimeout(timer);
        client.ws.terminate();
        resolve({ accepted: false, status: res.statusCode!, headers: res.headers, body });
      });
    });
    client.opened.then(
      () => {
        clearTimeout(timer);
        resolve({ accepted: true, client });
      },
      (err: Error & { statusCode?: number }) => {
        // An HTTP refusal also rejects `opened`; the 'unexpected-response' listener answers for it.
        if (err.statusCode === undefined) {
          clearTimeout(timer);
          reject(err);
        }
      },
    );
  });
}

async function accepted(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
  const a = await attempt(url, options);
  if (!a.accepted) throw new Error(`expected the handshake to be accepted, got HTTP ${a.status}: ${a.body}`);
  return a.client;
}

async function refused(url: string, options: WebSocket.ClientOptions = {}): Promise<Extract<Attempt, { accepted: false }>> {
  const a = await attempt(url, options);
  if (a.accepted) throw new Error('expected the handshake to be refused, but it was accepted');
  return a;
}

async function handshakes(g: RunningGateway, result: HandshakeResult): Promise<number> {
  return (await g.gateway.metrics.handshakes.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function pauses(g: RunningGateway, side: PauseSide): Promise<number> {
  return (await g.gateway.metrics.pauses.get()).values.find((v) => v.labels.side === side)?.value ?? 0;
}

/** Sessions whose child logger says it was opened, with the address the gateway believed. */
function openedFrom(g: RunningGateway): string[] {
  return g.logs.filter((l) => l.event === 'connection_opened').map((l) => String(l.remote_addr));
}

/** Closes a client's WebSocket and waits until the gateway has let go of its session (and admission slot). */
async function closeAndWait(g: RunningGateway, c: TestClient, sessionsLeft: number): Promise<void> {
  c.ws.close();
  await c.closed;
  await waitUntil(() => g.gateway.sessionCount === sessionsLeft, `${sessionsLeft} session(s) left`, 5000);
}

describe('--max-connections', () => {
  it('refuses the (N+1)th handshake with 503, a plain-text reason and Retry-After, and accepts again after one closes', async () => {
    gw = await startGateway({ upstream: server.upstream, maxConnections: 2 });
    const first = await accepted(gw.url);
    await accepted(gw.url);
    expect(gw.gateway.sessionCount).toBe(2);
    const overBefore = await handshakes(gw, 'over_limit');

    const r = await refused(gw.url);
    expect(r.status).toBe(503);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.headers['retry-after']).toBe('5');
    expect(r.body).toMatch(/connection limit \(--max-connections\)/);
    expect(await handshakes(gw, 'over_limit')).toBe(overBefore + 1);
    // The cap is process-wide: another client address is refused too.
    expect((await refused(gw.url, { localAddress: OTHER_IP })).status).toBe(503);
    expect(gw.gateway.sessionCount).toBe(2);

    await closeAndWait(gw, first, 1);
    const again = await accepted(gw.url);
    expect(again.ws.protocol).toBe('xmpp');
    expect(gw.gateway.sessionCount).toBe(2);
  });
});

describe('--max-connections-per-ip', () => {
  it('refuses a third session from one address with 429 while another address is still accepted', async () => {
    gw = await startGateway({ upstream: server.upstream, maxConnectionsPerIp: 2 });
    const first = await accepted(gw.url);
    await accepted(gw.url);
    const overBefore = await handshakes(gw, 'over_limit');

    const r = await refused(gw.url);
    expect(r.status).toBe(429);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.headers['retry-after']).toBe('10');
    expect(r.body).toMatch(/too many sessions from your address \(--max-connections-per-ip\)/);
    expect(await handshakes(gw, 'over_limit')).toBe(overBefore + 1);

    // 127.0.0.2 is its own address: two sessions there while 127.0.0.1 is full.
    await accepted(gw.url, { localAddress: OTHER_IP });
    await accepted(gw.url, { localAddress: OTHER_IP });
    expect((await refused(gw.url, { localAddress: OTHER_IP })).status).toBe(429);
    expect(openedFrom(gw)).toEqual(['127.0.0.1', '127.0.0.1', OTHER_IP, OTHER_IP]);

    // A slot freed on 127.0.0.1 is usable again by 127.0.0.1.
    await closeAndWait(gw, first, 3);
    await accepted(gw.url);
  });

  it('counts the X-Forwarded-For address, not the proxy, when the peer is a trusted proxy', async () => {
    gw = await startGateway({ upstream: server.upstream, maxConnectionsPerIp: 1, trustedProxies: ['127.0.0.1/32'] });
    const xff = (addr: string): WebSocket.ClientOptions => ({ headers: { 'X-Forwarded-For': addr } });
    await accepted(gw.url, xff('198.51.100.7'));
    // Same forwarded client again: over its limit, although the proxy connection is a new one.
    const r = await refused(gw.url, xff('198.51.100.7'));
    expect(r.status).toBe(429);
    expect(r.body).toMatch(/--max-connections-per-ip/);
    // Other clients behind the same proxy are not affected.
    await accepted(gw.url, xff('198.51.100.8'));
    await accepted(gw.url, xff('203.0.113.5, 198.51.100.9')); // rightmost untrusted hop counts
    expect(openedFrom(gw)).toEqual(['198.51.100.7', '198.51.100.8', '198.51.100.9']);
  });

  it('ignores X-Forwarded-For from an untrusted peer: the limit applies to the peer address', async () => {
    gw = await startGateway({ upstream: server.upstream, maxConnectionsPerIp: 1, trustedProxies: ['10.0.0.0/8'] });
    await accepted(gw.url, { headers: { 'X-Forwarded-For': '198.51.100.7' } });
    // A client forging a fresh address per connection does not escape the limit.
    const r = await refused(gw.url, { headers: { 'X-Forwarded-For': '198.51.100.8' } });
    expect(r.status).toBe(429);
    expect(openedFrom(gw)).toEqual(['127.0.0.1']);
  });
});

describe('--connection-rate-per-ip', () => {
  it('refuses the 4th new session within the window with 429 rate_limited, and accepts again once the window has passed', async () => {
    const WINDOW_MS = 2000;
    gw = await startGateway({ upstream: server.upstream, connectionRatePerIp: { count: 3, windowMs: WINDOW_MS } });
    const windowOpenedBy = Date.now();
    // The rate counts new sessions, not concurrent ones: closing them does not give credit back.
    for (let i = 0; i < 3; i++) {
      const c = await accepted(gw.url);
      await closeAndWait(gw, c, 0);
    }
    const limitedBefore = await handshakes(gw, 'rate_limited');
    const r = await refused(gw.url);
    expect(r.status).toBe(429);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.headers['retry-after']).toBe('10');
    expect(r.body).toMatch(/arrive too fast \(--connection-rate-per-ip\)/);
    expect(await handshakes(gw, 'rate_limited')).toBe(limitedBefore + 1);

    // Another address has its own budget.
    await accepted(gw.url, { localAddress: OTHER_IP });

    // Retry (refusals do not count towards the rate) until accepted; bounded in count and time.
    let refusals = 0;
    let client: TestClient | null = null;
    for (let i = 0; i < 300 && client === null; i++) {
      const a = await attempt(gw.url);
      if (a.accepted) client = a.client;
      else {
        expect(a.status).toBe(429);
        refusals++;
        if (Date.now() - windowOpenedBy > 10 * WINDOW_MS) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    if (client === null) throw new Error(`still refused ${Date.now() - windowOpenedBy} ms after the window opened`);
    // Not before the window ended: the first of the three was admitted no earlier than windowOpenedBy.
    expect(Date.now() - windowOpenedBy).toBeGreaterThanOrEqual(WINDOW_MS);
    expect(refusals).toBeGreaterThan(0);
    expect(await handshakes(gw, 'rate_limited')).toBe(limitedBefore + 1 + refusals);
  });
});

describe('log lines of handshakes refused by a limit', () => {
  const WARN = 40;
  const refusalWarnings = (g: RunningGateway): Array<Record<string, unknown>> =>
    g.logs.filter((l) => l.event === 'handshake_rejected' && l.level === WARN);

  it('name the limit, its value, the status and the address at warn, once per address and limit; the rest only at debug', async () => {
    gw = await startGateway({ upstream: server.upstream, maxConnections: 3, maxConnectionsPerIp: 1, connectionRatePerIp: { count: 2, windowMs: 60_000 } });
    await accepted(gw.url);
    // Same address, one session open: --max-connections-per-ip refuses, three times.
    for (let i = 0; i < 3; i++) expect((await refused(gw.url)).status).toBe(429);
    // Another address: its second new session is over the rate of 2, but first it is under the per-IP cap.
    const other = await accepted(gw.url, { localAddress: OTHER_IP });
    await closeAndWait(gw, other, 1);
    const again = await accepted(gw.url, { localAddress: OTHER_IP });
    await closeAndWait(gw, again, 1);
    for (let i = 0; i < 2; i++) expect((await refused(gw.url, { localAddress: OTHER_IP })).status).toBe(429);

    const warned = refusalWarnings(gw);
    expect(warned).toEqual([
      expect.objectContaining({ limit: 'max-connections-per-ip', limit_value: 1, status: 429, remote_addr: '127.0.0.1', suppressed: 0 }),
      expect.objectContaining({ limit: 'connection-rate-per-ip', limit_value: '2/60s', status: 429, remote_addr: OTHER_IP, suppressed: 0 }),
    ]);
    expect(String(warned[0]!.msg)).toMatch(/refused with 429 by --max-connections-per-ip \(1\)/);
    expect(String(warned[1]!.msg)).toMatch(/refused with 429 by --connection-rate-per-ip \(2\/60s\)/);
    // The held-back refusals are still in the debug log, each with its limit.
    const debug = gw.logs.filter((l) => l.event === 'handshake_rejected' && l.level === 20);
    expect(debug.map((l) => l.limit)).toEqual(['max-connections-per-ip', 'max-connections-per-ip', 'connection-rate-per-ip']);
  });

  it('after the window, the periodic sweep reports how many refusals each (limit, address) pair held back', async () => {
    let now = 1_000_000;
    // The rate limit, not a concurrent one: sweep() also pings sessions, and three sweeps in a row
    // would end an open session for a missing pong and free its slot.
    gw = await startGateway({ upstream: server.upstream, connectionRatePerIp: { count: 1, windowMs: 600_000 } }, { clock: () => now });
    await accepted(gw.url);
    for (let i = 0; i < 4; i++) expect((await refused(gw.url)).status).toBe(429);
    const sweep = (): void => (gw!.gateway as unknown as { sweep(): void }).sweep();
    const suppressedLines = (): Array<Record<string, unknown>> => gw!.logs.filter((l) => l.event === 'handshakes_rejected_suppressed');
    now += 59_999;
    sweep();
    expect(suppressedLines()).toEqual([]); // the window is still open
    now += 1;
    sweep();
    expect(suppressedLines()).toEqual([expect.objectContaining({ level: WARN, limit: 'connection-rate-per-ip', remote_addr: '127.0.0.1', suppressed: 3 })]);
    expect(String(suppressedLines()[0]!.msg)).toBe('3 more handshakes from 127.0.0.1 refused by --connection-rate-per-ip in the last 60 s');
    // Reported once: the pair is forgotten, and its next refusal is a fresh warn line.
    sweep();
    expect(suppressedLines()).toHaveLength(1);
    expect((await refused(gw.url)).status).toBe(429);
    expect(refusalWarnings(gw).map((l) => l.suppressed)).toEqual([0, 0]);
  });

  it('--max-connections (503) is named too', async () => {
    gw = await startGateway({ upstream: server.upstream, maxConnections: 1 });
    await accepted(gw.url);
    expect((await refused(gw.url, { localAddress: OTHER_IP })).status).toBe(503);
    expect(refusalWarnings(gw)).toEqual([expect.objectContaining({ limit: 'max-connections', limit_value: 1, status: 503, remote_addr: OTHER_IP })]);
  });
});

describe('--allowed-origins', () => {
  const withOrigin = (origin: string): WebSocket.ClientOptions => ({ origin });

  it('defaults to same-origin: an Origin with the host name the client used is accepted (any port or scheme), another gets 403, no Origin is accepted', async () => {
    gw = await startGateway({ upstream: server.upstream });
    expect(gw.gateway.config.allowedOrigins).toEqual(['same-origin']);
    // The ws client sends Host: 127.0.0.1:<port>; port and scheme are not compared (src/http/origin.ts says why).
    for (const origin of [`http://127.0.0.1:${gw.port}`, `https://127.0.0.1:${gw.port}`, `http://127.0.0.1:${gw.port + 1}`, 'https://127.0.0.1']) {
      await accepted(gw.url, withOrigin(origin));
    }
    await accepted(gw.url); // no Origin: not a browser
    await accepted(gw.url, withOrigin('127.0.0.1')); // Tsung 1.7's hard-coded Origin: not a browser either
    const badBefore = await handshakes(gw, 'bad_origin');
    for (const origin of ['https://evil.example', `http://localhost:${gw.port}`, 'null']) {
      const r = await refused(gw.url, withOrigin(origin));
      expect({ origin, status: r.status }).toEqual({ origin, status: 403 });
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      expect(r.body).toMatch(/Origin may not use this XMPP endpoint \(see --allowed-origins\)/);
    }
    expect(await handshakes(gw, 'bad_origin')).toBe(badBefore + 3);
    const refusals = async (reason: string) => (await gw!.gateway.metrics.originRefusals.get()).values.find((v) => v.labels.reason === reason)?.value;
    expect(await refusals('other_host')).toBe(2);
    expect(await refusals('null_origin')).toBe(1);
    // Refused again: counted again, but logged once per Origin per minute.
    await refused(gw.url, withOrigin('https://evil.example'));
    expect(await refusals('other_host')).toBe(3);
    const warned = gw.logs.filter((l) => l.event === 'origin_refused');
    expect(warned.map((l) => l.origin)).toEqual(['https://evil.example', `http://localhost:${gw.port}`, 'null']);
    expect(warned[0]).toMatchObject({ level: 40, reason: 'other_host', compared_host: '127.0.0.1', allow_with: '--allowed-origins same-origin,https://evil.example' });
    expect(warned[0]!.msg).toContain('refused Origin https://evil.example (not host 127.0.0.1)');
  });

  it('a refused Origin is warned about once per minute; the sweep then reports how many were held back', async () => {
    let now = 1_000_000;
    gw = await startGateway({ upstream: server.upstream }, { clock: () => now });
    for (let i = 0; i < 3; i++) expect((await refused(gw.url, withOrigin('https://evil.example'))).status).toBe(403);
    expect(gw.logs.filter((l) => l.event === 'origin_refused').map((l) => l.suppressed)).toEqual([0]);
    const sweep = (): void => (gw!.gateway as unknown as { sweep(): void }).sweep();
    const suppressedLines = (): Array<Record<string, unknown>> => gw!.logs.filter((l) => l.event === 'origin_refused_suppressed');
    now += 30_000;
    sweep();
    expect(suppressedLines()).toEqual([]);
    now += 30_000;
    sweep();
    expect(suppressedLines()).toEqual([expect.objectContaining({ level: 40, origin: 'https://evil.example', suppressed: 2 })]);
    expect(String(suppressedLines()[0]!.msg)).toBe('2 more handshakes refused for Origin https://evil.example in the last 60 s');
    // The next refusal of that Origin is a fresh warn line.
    await refused(gw.url, withOrigin('https://evil.example'));
    expect(gw.logs.filter((l) => l.event === 'origin_refused').map((l) => l.suppressed)).toEqual([0, 0]);
  });

  it('same-origin behind a trusted proxy compares with X-Forwarded-Host / Forwarded host=, and ignores them from anyone else', async () => {
    gw = await startGateway({ upstream: server.upstream });
    const page = 'https://chat.example.org:8443';
    await accepted(gw.url, { origin: page, headers: { 'X-Forwarded-Host': 'chat.example.org' } });
    await accepted(gw.url, { origin: page, headers: { Forwarded: 'for=192.0.2.1;host=chat.example.org:8443;proto=https' } });
    await refused(gw.url, withOrigin(page)); // Host: 127.0.0.1:<port>
    // From 127.0.0.2, not in --trusted-proxies here, the header is not believed.
    await gw.close();
    gw = await startGateway({ upstream: server.upstream, trustedProxies: ['127.0.0.1/32'] });
    const r = await refused(gw.url, { origin: page, headers: { 'X-Forwarded-Host': 'chat.example.org' }, localAddress: OTHER_IP });
    expect(r.status).toBe(403);
  });

  it('an explicit list with https://*.example.org accepts exactly the listed origins and subdomains', async () => {
    gw = await startGateway({ upstream: server.upstream, allowedOrigins: ['https://chat.example.net', 'https://*.example.org'] });
    for (const origin of ['https://chat.example.net', 'https://a.example.org', 'https://b.a.example.org', 'HTTPS://A.Example.ORG']) {
      const a = await attempt(gw.url, withOrigin(origin));
      expect({ origin, accepted: a.accepted }).toEqual({ origin, accepted: true });
    }
    await accepted(gw.url); // no Origin
    for (const origin of [
      'https://example.org', // the wildcard needs a subdomain
      'http://a.example.org', // scheme differs
      'https://a.example.org:8443', // port differs
      'https://evilexample.org',
      'https://a.example.org.evil.test',
      'https://other.example.net',
      `http://127.0.0.1:${gw.port}`, // same-origin is not in the list
    ]) {
      const a = await attempt(gw.url, withOrigin(origin));
      expect({ origin, status: a.accepted ? 101 : a.status }).toEqual({ origin, status: 403 });
    }
  });

  it('"*" accepts any Origin', async () => {
    gw = await startGateway({ upstream: server.upstream, allowedOrigins: ['*'] });
    for (const origin of ['https://evil.example', 'http://localhost:1', 'null']) {
      const a = await attempt(gw.url, withOrigin(origin));
      expect({ origin, accepted: a.accepted }).toEqual({ origin, accepted: true });
    }
    expect(await handshakes(gw, 'bad_origin')).toBe(0);
  });
});

describe('--max-header-size', () => {
  /** Sends a raw upgrade request whose head is padded with one header of `padBytes`; returns the status line and body. */
  function rawUpgrade(port: number, padBytes: number): Promise<{ statusLine: string; text: string }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let text = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no complete answer within 5 s; got ${JSON.stringify(text.slice(0, 300))}`));
      }, 5000);
      socket.setEncoding('utf8');
      socket.on('connect', () => {
        socket.write(
          'GET /xmpp-websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: xmpp\r\n' +
            `X-Pad: ${'a'.repeat(padBytes)}\r\n\r\n`,
        );
      });
      socket.on('data', (d: string) => {
        text += d;
        // A 101 keeps the connection open: the status line and the blank line are the whole answer.
        if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n')) socket.destroy();
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ statusLine: text.split('\r\n')[0]!, text });
      });
    });
  }

  it('answers 431 with a plain-text reason for a request head over the limit, and upgrades one under it', async () => {
    gw = await startGateway({ upstream: server.upstream, maxHeaderSize: 2048 });
    const big = await rawUpgrade(gw.port, 4096);
    expect(big.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(big.text).toMatch(/Content-Type: text\/plain/);
    expect(big.text).toMatch(/\r\n\r\nRequest Header Fields Too Large\n$/);
    expect(gw.gateway.sessionCount).toBe(0);

    const small = await rawUpgrade(gw.port, 1024);
    expect(small.statusLine).toBe('HTTP/1.1 101 Switching Protocols');
  });
});

describe('--trusted-proxies', () => {
  const xff = { headers: { 'X-Forwarded-For': '198.51.100.7' } };

  it('logs the X-Forwarded-For address as remote_addr when the peer is trusted (127.0.0.1/32)', async () => {
    gw = await startGateway({ upstream: server.upstream, trustedProxies: ['127.0.0.1/32'] });
    await accepted(gw.url, xff);
    expect(openedFrom(gw)).toEqual(['198.51.100.7']);
    // Peer 127.0.0.2 is not in 127.0.0.1/32: its header is not believed.
    await accepted(gw.url, { ...xff, localAddress: OTHER_IP });
    expect(openedFrom(gw)).toEqual(['198.51.100.7', OTHER_IP]);
  });

  it('logs the peer address and ignores X-Forwarded-For when the peer is not trusted (10.0.0.0/8)', async () => {
    gw = await startGateway({ upstream: server.upstream, trustedProxies: ['10.0.0.0/8'] });
    await accepted(gw.url, xff);
    const c = await accepted(gw.url, { headers: { Forwarded: 'for=198.51.100.7' } });
    expect(openedFrom(gw)).toEqual(['127.0.0.1', '127.0.0.1']);
    // Every line a session logs carries the same address.
    c.send(openXml());
    await c.waitFor(2);
    await waitUntil(() => gw!.logs.some((l) => l.event === 'upstream_connected'), 'upstream_connected logged', 5000);
    for (const line of gw.logs.filter((l) => l.conn_id !== undefined)) expect(line.remote_addr).toBe('127.0.0.1');
  });
});

describe('--idle-timeout', () => {
  // The busy session's keep-alive round trips must stay well inside the idle window even when the
  // machine is loaded; the test checks outcomes (who is ended, how), not how promptly.
  const IDLE_MS = 3000;
  const PING_MS = 200;

  it('ends an idle session with connection-timeout and a clean </stream:stream> upstream; a session exchanging elements survives', async () => {
    gw = await startGateway({ upstream: server.upstream, idleTimeoutMs: IDLE_MS, pingIntervalMs: PING_MS });
    const startedAt = Date.now();
    const idle = await accepted(gw.url);
    idle.send(openXml());
    await idle.waitFor(2); // <open/>, features: from now on it only answers pings
    const idleUpstream: FakeConnection = await server.nextConnection(0);

    const busy = await accepted(gw.url);
    busy.send(openXml());
    await busy.waitFor(2);
    const busyUpstream = await server.nextConnection(1);

    let idleClosedAt: number | null = null;
    void idle.closed.then(() => (idleClosedAt = Date.now()));
    // The busy client sends a message every PING_MS (the fake server echoes it back) until the idle
    // one has been ended and twice the idle timeout has passed; bounded in count.
    let sent = 0;
    while (idleClosedAt === null || Date.now() - startedAt < 2 * IDLE_MS) {
      if (sent >= 200) throw new Error(`the idle session was not ended after ${sent} keep-alive messages`);
      const id = `k${++sent}`;
      busy.send(`<message xmlns="${NS_CLIENT}" id="${id}"><body>still here</body></message>`);
      await busy.waitForMatch(new RegExp(`id=["']${id}["']`), 10_000);
      await new Promise((resolve) => setTimeout(resolve, PING_MS));
    }

    // The idle session: stream error connection-timeout, <close/>, WebSocket close 1000; not before IDLE_MS.
    const closed = await idle.closed;
    expect(closed.code).toBe(1000);
    expect(idleClosedAt! - startedAt).toBeGreaterThanOrEqual(IDLE_MS);
    const tail = idle.messages.slice(2).map((m) => parseStandalone(m));
    expect(tail.map((el) => el.getName())).toEqual(['error', 'close']);
    expect(tail[0]!.getNS()).toBe(NS_STREAMS);
    expect(tail[0]!.getChild('connection-timeout', 'urn:ietf:params:xml:ns:xmpp-streams')).toBeDefined();
    // Upstream got a clean end of stream (not a dropped socket), and the TCP connection closed.
    await idleUpstream.waitFor(/<\/stream:stream>$/);
    expect(idleUpstream.gotFooter).toBe(true);
    await idleUpstream.closed;
    const ended = gw.logs.filter((l) => l.event === 'session_closed');
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ reason: 'idle_timeout', condition: 'connection-timeout', ws_close_code: 1000 });

    // The busy session: still open, every message relayed, nothing ended upstream.
    expect(busy.ws.readyState).toBe(busy.ws.OPEN);
    expect(gw.gateway.sessionCount).toBe(1);
    expect(busyUpstream.gotFooter).toBe(false);
    expect(busyUpstream.received.match(/<message /g)).toHaveLength(sent);
    busy.send(closeXml);
    expect((await busy.closed).code).toBe(1000);
  });
});

describe('--max-bytes-per-second', () => {
  /** TokenBucket's default: two seconds of burst on top of the rate. */
  const BURST_SECONDS = 2;
  const MESSAGE_BYTES = 1024;

  interface Flood {
    readonly client: TestClient;
    readonly upstream: FakeConnection;
    readonly sent: readonly string[];
    readonly relayed: readonly string[];
    readonly elapsedMs: number;
    /** Time the bytes beyond the burst need at exactly `rate`. */
    readonly idealMs: number;
  }

  /**
   * Opens a session, then writes `seconds` worth of `rate` in 1 KiB messages at once (the client
   * never waits: only the gateway's paused reads hold it back) and times their arrival upstream.
   */
  async function flood(g: RunningGateway, rate: number, seconds: number): Promise<Flood> {
    const client = await accepted(g.url);
    client.send(openXml());
    await client.waitFor(2);
    const upstream = await server.nextConnection(0);
    const count = Math.round((seconds * rate) / MESSAGE_BYTES);
    const sent: string[] = [];
    for (let i = 0; i < count; i++) {
      const head = `<message xmlns="${NS_CLIENT}" id="r${i}"><body>`;
      const tail = '</body></message>';
      const pad = MESSAGE_BYTES - head.length - tail.length - 5;
      sent.push(`${head}${String(i).padStart(5, '0')}${'x'.repeat(pad)}${tail}`);
    }
    const total = sent.reduce((n, m) => n + Buffer.byteLength(m), 0);
    expect(total).toBe(count * MESSAGE_BYTES);
    const last = `id="r${count - 1}"`;
    const t0 = Date.now();
    for (const m of sent) client.send(m);
    await waitUntil(() => upstream.received.includes(last), `all ${count} messages at the server`, 30_000, 10);
    const elapsedMs = Date.now() - t0;
    await upstream.waitFor(/<\/message>$/); // the last one complete
    const relayed = upstream.received.match(/<message [\s\S]*?<\/message>/g) ?? [];
    return { client, upstream, sent, relayed, elapsedMs, idealMs: ((total - BURST_SECONDS * rate) / rate) * 1000 };
  }

  it('throttles a client sending six seconds of its rate at once: everything arrives intact and in order, no faster than the rate, and the session lives on', async () => {
    const RATE = 128 * 1024;
    gw = await startGateway({ upstream: server.upstream, maxBytesPerSecond: RATE });
    const pausesBefore = await pauses(gw, 'rate_limit');
    const f = await flood(gw, RATE, 6);

    // Intact and in order, byte for byte, and nothing else.
    expect(f.relayed.length).toBe(f.sent.length);
    expect(f.relayed).toEqual(f.sent);
    // The bucket starts with BURST_SECONDS of credit, then refills at RATE. A lower bound only: a
    // slow machine may take longer, never shorter.
    expect(f.idealMs).toBe(4000);
    expect(f.elapsedMs).toBeGreaterThanOrEqual(0.5 * f.idealMs);
    expect(await pauses(gw, 'rate_limit')).toBeGreaterThan(pausesBefore);
    expect(gw.logs.some((l) => l.event === 'backpressure_pause' && l.side === 'rate_limit')).toBe(true);

    // Throttled, never ended: the session is open and closes normally on request.
    expect(gw.logs.filter((l) => l.event === 'session_closed')).toHaveLength(0);
    expect(f.client.ws.readyState).toBe(f.client.ws.OPEN);
    expect(f.upstream.gotFooter).toBe(false);
    expect(gw.gateway.sessionCount).toBe(1);
    f.client.send(closeXml);
    expect((await f.client.closed).code).toBe(1000);
    expect(gw.logs.find((l) => l.event === 'session_closed')).toMatchObject({ reason: 'client_closed' });
  });

  // ws's pause() only stops socket reads: messages already parsed from the last read (up to 64 KiB)
  // are still emitted. The session holds them while paused, so even an excess that fits in one read
  // waits for the rate.
  it('no more than the burst passes at once, even when the excess fits in one socket read (16 KiB/s, 4 s worth)', async () => {
    const RATE = 16 * 1024;
    gw = await startGateway({ upstream: server.upstream, maxBytesPerSecond: RATE });
    const f = await flood(gw, RATE, 4);
    expect(f.relayed).toEqual(f.sent);
    expect(f.idealMs).toBe(2000);
    expect(f.elapsedMs).toBeGreaterThanOrEqual(0.5 * f.idealMs);
  });
});
