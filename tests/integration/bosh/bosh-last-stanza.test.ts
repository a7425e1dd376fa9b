/**
 * The end of a BOSH session when the server's last stanza and its `</stream:stream>` arrive in one
 * TCP read, with the real stanza library as the client.
 *
 * CI caught this with Prosody: after alice's `type='terminate'`, bob's unavailable presence came in
 * the same read as the server's closing tag. The gateway put the presence inside
 * `<body type='terminate'/>`, and stanza's BOSH transport failed with "stream.push() after EOF" (it
 * ends its stream on the terminate, then pushes the body's children). A scripted server makes that
 * timing certain here, for both ends: the client's logout and the server's close.
 *
 * Later CI caught the server's case losing the message when both arrived between two polls: the
 * flush scheduled for the message ran after the end with no request held and emptied the queue
 * into no response (the unit tests in tests/unit/bosh/bosh-session.test.ts pin that timing).
 */
import * as stanza from 'stanza';
import { startGateway, type RunningGateway } from '../../helpers/gateway';
import { FakeServer, FEATURES_SASL, minimalServer, type FakeConnection } from '../../helpers/fake-server';

const BOB_LEAVES = "<presence xmlns='jabber:client' from='bob@localhost/b' to='user@localhost/r' type='unavailable'/>";

let server: FakeServer;
let gw: RunningGateway;

afterEach(async () => {
  await gw.close();
  await server.close();
});

async function start(beforeClose = ''): Promise<void> {
  server = await FakeServer.start(minimalServer(FEATURES_SASL, beforeClose));
  gw = await startGateway({ upstream: server.upstream, closeTimeoutMs: 2000 });
}

/** A logged-in stanza client over the gateway's BOSH endpoint, recording what it saw. */
async function login() {
  const client = stanza.createClient({
    jid: 'user@localhost',
    password: 'pass',
    resource: 'r',
    server: 'localhost',
    transports: { websocket: false, bosh: `http://127.0.0.1:${gw.port}/http-bind` },
    autoReconnect: false,
    allowResumption: false,
  });
  const seen = { events: [] as string[], transportErrors: [] as string[], bodies: [] as string[] };
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  client.on('raw:incoming', (data: string) => seen.bodies.push(data));
  client.on('presence', (p) => seen.events.push(`presence ${p.from} ${p.type ?? 'available'}`));
  client.on('message', (m) => seen.events.push(`message ${m.id}`));
  client.on('stream:end', () => seen.events.push('stream:end'));
  client.on('disconnected', () => finished());
  const started = new Promise<void>((resolve, reject) => {
    client.on('session:started', () => resolve());
    client.on('auth:failed', () => reject(new Error('auth failed')));
  });
  client.connect();
  await started;
  // "push() after EOF" is an 'error' on the transport stream (a Node Duplex; stanza's Transport type
  // does not say so). It leaves the client hanging, never disconnected: the wait ends on it too.
  (client.transport as unknown as NodeJS.EventEmitter).on('error', (e: Error) => {
    seen.transportErrors.push(e.message);
    finished();
  });
  const conn: FakeConnection = server.connections[0]!;
  return { client, seen, done, conn };
}

const terminateBodies = (bodies: string[]): string[] => bodies.filter((b) => /type=["']terminate/.test(b));

async function cleanEnds(): Promise<number | undefined> {
  return (await gw.gateway.metrics.boshTerminations.get()).values.find((v) => v.labels.condition === 'none')?.value;
}

it("the client logs out while the server's last presence comes with its closing tag: one empty terminate body, a clean end", async () => {
  await start(BOB_LEAVES);
  const { client, seen, done, conn } = await login();
  client.disconnect();
  await done;

  expect(seen.transportErrors).toEqual([]);
  // XEP-0124 §13: the answer to the client's terminate is an empty terminate body; what the server
  // sent after it is not delivered (Prosody's mod_bosh does the same).
  expect(seen.events).toEqual(['stream:end']);
  const terminate = terminateBodies(seen.bodies);
  expect(terminate).toHaveLength(1);
  expect(terminate[0]).not.toContain('<presence');
  await conn.closed;
  expect(conn.gotFooter).toBe(true);
  expect(await cleanEnds()).toBe(1);
}, 30_000);

it('the server sends a message and closes in one read: the message arrives, then the terminate body, a clean end', async () => {
  await start();
  const { seen, done, conn } = await login();
  conn.write("<message xmlns='jabber:client' id='last-words' from='localhost' to='user@localhost/r'><body>bye</body></message></stream:stream>");
  await done;

  expect(seen.transportErrors).toEqual([]);
  // The bodies ride along so that a failure shows what the client was sent.
  expect({ events: seen.events, bodies: seen.bodies }).toEqual({ events: ['message last-words', 'stream:end'], bodies: expect.any(Array) });
  const terminate = terminateBodies(seen.bodies);
  expect(terminate).toHaveLength(1);
  expect(terminate[0]).not.toContain('last-words');
  expect(seen.bodies.findIndex((b) => b.includes('last-words'))).toBeLessThan(seen.bodies.indexOf(terminate[0]!));
  expect(await cleanEnds()).toBe(1);
}, 30_000);
