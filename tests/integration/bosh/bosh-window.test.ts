/**
 * BOSH request handling over real sockets (XEP-0124 §10-§14, §17): the rid window with out-of-order
 * and repeated rids, expired sessions, held requests whose client vanished, pause, body limits, bad
 * bodies, CORS, and the terminal conditions with their HTTP statuses.
 */
import * as http from 'node:http';
import { startGateway, type RunningGateway } from '../../helpers/gateway';
import { FakeServer, closedPort, type FakeConnection } from '../../helpers/fake-server';
import { BODY_NS, BoshSessionClient, boshPost, children } from '../../helpers/bosh-client';
import type { Config } from '../../../src/config';

let server: FakeServer;
let gw: RunningGateway;
let url: string;
const clients: BoshSessionClient[] = [];

async function start(overrides: Partial<Config> = {}): Promise<void> {
  server = await FakeServer.start();
  gw = await startGateway({ upstream: server.upstream, connectTimeoutMs: 500, closeTimeoutMs: 500, ...overrides });
  url = `http://127.0.0.1:${gw.port}/http-bind`;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await gw?.close();
  await server?.close();
});

/** A created session (wait 1 s so held requests come back quickly) and its upstream connection. */
async function session(extra = "wait='1' hold='1' ver='1.6'"): Promise<{ client: BoshSessionClient; conn: FakeConnection }> {
  const client = new BoshSessionClient(url);
  clients.push(client);
  const reply = await client.create(extra);
  expect(reply.body?.attrs.sid).toBeDefined();
  return { client, conn: server.connections[server.connections.length - 1]! };
}

/** The value of one series of a counter. */
async function value(metric: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number }> }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

const msg = (text: string): string => `<message xmlns='jabber:client' to='x@localhost'><body>${text}</body></message>`;

describe('rid window (XEP-0124 §14)', () => {
  beforeEach(() => start());

  it('holds an early request until the missing rid arrives, then relays both in rid order', async () => {
    const { client, conn } = await session();
    const first = client.rid;
    const early = boshPost(url, `<body rid='${first + 1}' sid='${client.sid}' ${BODY_NS}>${msg('second')}</body>`, { agent: client.agent });
    await new Promise((r) => setTimeout(r, 200));
    expect(conn.received).not.toContain('second');
    const inOrder = boshPost(url, `<body rid='${first}' sid='${client.sid}' ${BODY_NS}>${msg('first')}</body>`, { agent: client.agent });
    const [a, b] = await Promise.all([inOrder, early]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await conn.waitFor(/second/);
    expect(conn.received.indexOf('first')).toBeLessThan(conn.received.indexOf('second'));
    expect(await value(gw.gateway.metrics.boshRequests, { result: 'accepted' })).toBeGreaterThanOrEqual(2);
  });

  it('answers a repeated rid with the very same response and relays its payload once', async () => {
    const { client, conn } = await session();
    const rid = client.rid;
    const xml = `<body rid='${rid}' sid='${client.sid}' ${BODY_NS}><iq xmlns='jabber:client' type='set' id='once'/></body>`;
    const pending = boshPost(url, xml, { agent: client.agent });
    await conn.waitFor(/once/);
    conn.write("<message from='x@localhost'><body>answer</body></message>");
    const reply = await pending;
    expect(children(reply.body)[0]?.getChildText('body')).toBe('answer');
    const again = await boshPost(url, xml, { agent: client.agent });
    expect(again.text).toBe(reply.text);
    expect(conn.received.split('once').length - 1).toBe(1);
  });

  it('a repeated rid that is still held takes over the held request', async () => {
    const { client, conn } = await session("wait='20' hold='1' ver='1.6'");
    const rid = client.rid;
    const xml = `<body rid='${rid}' sid='${client.sid}' ${BODY_NS}/>`;
    const firstAgent = new http.Agent({ keepAlive: false });
    const first = boshPost(url, xml, { agent: firstAgent });
    await new Promise((r) => setTimeout(r, 200));
    const second = boshPost(url, xml, { agent: client.agent });
    const firstReply = await first;
    expect(children(firstReply.body)).toEqual([]);
    conn.write("<message from='x@localhost'><body>late</body></message>");
    expect(children((await second).body)[0]?.getChildText('body')).toBe('late');
    firstAgent.destroy();
  });

  it('a rid beyond the window ends the session with item-not-found; the server is dropped without a footer', async () => {
    const { client, conn } = await session();
    const reply = await boshPost(url, `<body rid='${client.rid + 10}' sid='${client.sid}' ${BODY_NS}/>`);
    expect(reply.status).toBe(200);
    expect(reply.body?.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
    await conn.closed;
    expect(conn.gotFooter).toBe(false);
    const after = await client.send();
    expect(after.body?.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
  });

  it('an unknown sid is item-not-found: 200 for current clients, 404 for a legacy one (§17.1, §19.1)', async () => {
    const reply = await boshPost(url, `<body rid='5' sid='nope' ${BODY_NS}/>`);
    expect(reply.status).toBe(200);
    expect(reply.body?.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
    // A legacy client (no ver at creation) whose rid leaves the window gets the HTTP status it expects.
    const { client } = await session("wait='1' hold='1'");
    const legacy = await boshPost(url, `<body rid='${client.rid + 10}' sid='${client.sid}' ${BODY_NS}/>`);
    expect(legacy.status).toBe(404);
    expect(legacy.body?.attrs.condition).toBe('item-not-found');
  });
});

describe('held requests, inactivity and pause (XEP-0124 §10, §11)', () => {
  it('data for a held request whose client vanished waits for the next request', async () => {
    await start();
    const { client, conn } = await session("wait='20' hold='1' ver='1.6'");
    const lost = http.request(url, { method: 'POST', headers: { 'Content-Type': 'text/xml' } });
    lost.on('error', () => undefined);
    lost.end(`<body rid='${client.rid++}' sid='${client.sid}' ${BODY_NS}/>`);
    await new Promise((r) => setTimeout(r, 200));
    expect(gw.gateway.metrics.boshSource!().held).toBe(1);
    lost.destroy();
    for (let i = 0; i < 50 && gw.gateway.metrics.boshSource!().held > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(gw.gateway.metrics.boshSource!().held).toBe(0);
    conn.write("<message from='x@localhost'><body>kept</body></message>");
    await new Promise((r) => setTimeout(r, 100));
    const next = await client.send();
    expect(children(next.body)[0]?.getChildText('body')).toBe('kept');
  });

  it('a session without requests for --bosh-inactivity expires: item-not-found, server dropped without a footer', async () => {
    await start({ boshInactivityMs: 5000 });
    const { client, conn } = await session();
    await conn.closed;
    expect(conn.gotFooter).toBe(false);
    const late = await client.send();
    expect(late.body?.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
    expect(await value(gw.gateway.metrics.boshTerminations, { condition: 'inactivity' })).toBe(1);
    expect(gw.gateway.sessionCount).toBe(0);
  }, 20_000);

  it('pause answers held requests at once and sets the inactivity period to the pause (§10)', async () => {
    await start();
    const { client, conn } = await session("wait='20' hold='1' ver='1.6'");
    const held = client.send();
    await new Promise((r) => setTimeout(r, 100));
    const paused = await client.send('', "pause='1'");
    expect(paused.status).toBe(200);
    expect((await held).status).toBe(200);
    await conn.closed;
    expect((await client.send()).body?.attrs.condition).toBe('item-not-found');
  });
});

describe('bad requests and limits', () => {
  beforeEach(() => start({ boshMaxBodySize: 10_000 }));

  it('refuses a body over --bosh-max-body-size with 413 before reading it', async () => {
    const reply = await boshPost(url, `<body rid='1' to='localhost' ${BODY_NS}>${msg('x'.repeat(20_000))}</body>`);
    expect(reply.status).toBe(413);
    expect(reply.body?.attrs).toMatchObject({ type: 'terminate', condition: 'policy-violation' });
    expect(server.connections).toHaveLength(0);
  });

  it('refuses a chunked body once it passes the limit', async () => {
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'text/xml', 'Transfer-Encoding': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.write(`<body rid='1' to='localhost' ${BODY_NS}>`);
      for (let i = 0; i < 5; i++) req.write(msg('y'.repeat(4000)));
      req.end('</body>');
    });
    expect(reply.status).toBe(413);
    expect(reply.text).toContain("condition='policy-violation'");
  });

  it.each([
    ['not XML', 'hello'],
    ['not a body', "<iq xmlns='jabber:client'/>"],
    ['no rid', `<body to='localhost' ${BODY_NS}/>`],
    ['truncated', `<body rid='1' to='localhost' ${BODY_NS}><message>`],
    ['a comment', `<body rid='1' to='localhost' ${BODY_NS}><!-- c --></body>`],
  ])('%s: HTTP 400 with a bad-request body; nothing reaches the server', async (_name, xml) => {
    const reply = await boshPost(url, xml);
    expect(reply.status).toBe(400);
    expect(reply.body?.attrs).toMatchObject({ type: 'terminate', condition: 'bad-request' });
    expect(server.connections).toHaveLength(0);
  });

  it('a bad body does not disturb an existing session', async () => {
    const { client, conn } = await session();
    expect((await boshPost(url, `<body rid='${client.rid}' sid='${client.sid}' ${BODY_NS}><a:b/></body>`)).status).toBe(400);
    await client.send(msg('still here'));
    await conn.waitFor(/still here/);
  });

  it('other methods get 405; GET describes the endpoint', async () => {
    expect((await boshPost(url, '', { method: 'PUT' })).status).toBe(405);
    const get = await new Promise<{ status: number; text: string }>((resolve) => http.get(url, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode!, text }));
    }));
    expect(get.status).toBe(200);
    expect(get.text).toContain('XEP-0124');
  });
});

describe('CORS (same --allowed-origins as the WebSocket side)', () => {
  beforeEach(() => start({ allowedOrigins: ['https://chat.example.org'] }));

  it('answers a preflight from an allowed origin', async () => {
    const reply = await boshPost(url, '', { method: 'OPTIONS', headers: { Origin: 'https://chat.example.org', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
    expect(reply.status).toBe(204);
    expect(reply.headers).toMatchObject({ 'access-control-allow-origin': 'https://chat.example.org', 'access-control-allow-methods': 'POST, OPTIONS', 'access-control-allow-headers': 'Content-Type', vary: 'Origin' });
  });

  it('names the origin on responses, and refuses other origins with 403', async () => {
    const ok = await boshPost(url, `<body rid='1' sid='x' ${BODY_NS}/>`, { headers: { Origin: 'https://chat.example.org' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://chat.example.org');
    const bad = await boshPost(url, `<body rid='1' to='localhost' ${BODY_NS}/>`, { headers: { Origin: 'https://evil.example.com' } });
    expect(bad.status).toBe(403);
    expect(bad.headers['access-control-allow-origin']).toBeUndefined();
    expect(server.connections).toHaveLength(0);
  });
});

describe('terminal conditions (XEP-0124 §17.2, XEP-0206 §6)', () => {
  it('an unreachable server: the creation request gets remote-connection-failed', async () => {
    await start();
    await gw.close();
    gw = await startGateway({ upstream: { host: '127.0.0.1', port: await closedPort() }, connectTimeoutMs: 500 });
    url = `http://127.0.0.1:${gw.port}/http-bind`;
    const reply = await boshPost(url, `<body rid='1' to='localhost' wait='5' hold='1' ver='1.6' ${BODY_NS}/>`);
    expect(reply.status).toBe(200);
    expect(reply.body?.attrs).toMatchObject({ type: 'terminate', condition: 'remote-connection-failed' });
  });

  it("the server's stream error arrives inside a remote-stream-error body, after the queued stanzas in an ordinary one", async () => {
    await start();
    const { client, conn } = await session("wait='20' hold='1' ver='1.6'");
    const held = client.send();
    await new Promise((r) => setTimeout(r, 100));
    conn.write("<message from='x@localhost'><body>last words</body></message><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>");
    // Stanzas never ride in the terminate body (clients drop them or fail on them there).
    const reply = await held;
    expect(reply.body?.attrs.type).toBeUndefined();
    expect(children(reply.body).map((c) => c.name)).toEqual(['message']);
    const end = await client.send();
    expect(end.body?.attrs).toMatchObject({ type: 'terminate', condition: 'remote-stream-error' });
    expect(children(end.body).map((c) => c.name)).toEqual(['stream:error']);
    expect(children(end.body)[0]?.getChild('conflict')).toBeDefined();
  });

  it('drain ends BOSH sessions at once with system-shutdown, answering the held request', async () => {
    await start();
    const { client } = await session("wait='20' hold='1' ver='1.6'");
    const held = client.send();
    await new Promise((r) => setTimeout(r, 100));
    const draining = gw.gateway.drain(5000);
    const reply = await held;
    expect(reply.body?.attrs).toMatchObject({ type: 'terminate', condition: 'system-shutdown' });
    await draining;
    expect(gw.gateway.sessionCount).toBe(0);
    expect(await value(gw.gateway.metrics.boshTerminations, { condition: 'system-shutdown' })).toBe(1);
  });
});

describe('server data waiting for requests (--bosh-max-queued)', () => {
  it('pauses server reads when the queue is full and loses nothing', async () => {
    await start({ boshMaxQueued: 16 * 1024 });
    const { client, conn } = await session("wait='1' hold='1' ver='1.6'");
    const count = 400;
    let burst = '';
    for (let i = 0; i < count; i++) burst += `<message from='x@localhost'><body>m${i} ${'z'.repeat(300)}</body></message>`;
    conn.write(burst);
    await new Promise((r) => setTimeout(r, 300));
    expect(await value(gw.gateway.metrics.pauses, { side: 'tcp' })).toBeGreaterThanOrEqual(1);
    const seen: string[] = [];
    for (let i = 0; i < 200 && seen.length < count; i++) {
      const reply = await client.send();
      for (const c of children(reply.body)) seen.push(c.getChildText('body')!.split(' ')[0]!);
    }
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
  });
});
