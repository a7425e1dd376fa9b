/**
 * A bug ends one session, never the process (issue 9): an exception injected into one live session
 * at each kind of entry point — a WebSocket message, upstream data, a drain, a timer, a close
 * handler, the dial callback — ends that session as INTERNAL (stack logged, internal-server-error,
 * close 1011, counted), while another session on the same gateway keeps relaying.
 *
 * Faults go in through the test-only seam `gateway[kLiveSessions]`: the test shadows one method of
 * one live session object (or of its transport) with a function that throws.
 */
import * as ltx from 'ltx';
import { kLiveSessions } from '../../src/gateway';
import type { Session } from '../../src/session/session';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { TestClient, openXml } from '../helpers/ws-client';
import { FakeServer, minimalServer, type FakeConnection } from '../helpers/fake-server';
import { waitUntil } from '../helpers/raw-xmpp';

let server: FakeServer;
let gw: RunningGateway;

beforeEach(async () => {
  server = await FakeServer.start(minimalServer());
  // The sweep timer (pings) never fires during a test: on a loaded machine a 200 ms ping period ended
  // the healthy session too (no pong in time). The keepalive case runs the sweep itself.
  gw = await startGateway({ upstream: server.upstream, pingIntervalMs: 3_600_000, closeTimeoutMs: 300 });
});
afterEach(async () => {
  await gw.close();
  await server.close();
});

/** One run of the gateway's periodic sweep (pings, pong and idle checks), as its timer would do it. */
function sweepNow(): void {
  (gw.gateway as unknown as { sweep(): void }).sweep();
}

/** Makes `method` of `target` throw, for this object only. */
function injectFault(target: object, method: string): void {
  Object.defineProperty(target, method, {
    configurable: true,
    value: () => {
      throw new Error(`injected fault in ${method}`);
    },
  });
}

/** A client with an open stream, its gateway session and its upstream connection. */
async function openSession(): Promise<{ client: TestClient; session: Session; upstream: FakeConnection }> {
  const before = new Set(gw.gateway[kLiveSessions]);
  const index = server.connections.length;
  const client = await TestClient.open(gw.url);
  client.send(openXml());
  await client.waitForMatch(/<open /);
  const session = [...gw.gateway[kLiveSessions]].find((s) => !before.has(s))!;
  expect(session.state).toBe('open');
  return { client, session, upstream: await server.nextConnection(index) };
}

async function internalErrors(): Promise<number> {
  const text = await gw.gateway.metrics.registry.getSingleMetricAsString('xmppgw_stream_errors_total');
  const m = /xmppgw_stream_errors_total\{condition="internal-server-error",origin="gateway"\} (\d+)/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** The other session still relays: a message to itself comes back through the fake server's echo. */
async function stillRelays(client: TestClient, body: string): Promise<void> {
  client.send(`<message xmlns="jabber:client" to="user@localhost/r"><body>${body}</body></message>`);
  await client.waitForMatch(new RegExp(`<body>${body}</body>`));
}

/** The faulty session's client got internal-server-error, <close/> and WebSocket close 1011. */
async function expectInternalEnding(client: TestClient): Promise<void> {
  const closed = await client.closed;
  expect(closed.code).toBe(1011);
  const error = client.messages.map((m) => ltx.parse(m)).find((el) => el.name === 'stream:error');
  expect(error?.getChild('internal-server-error', 'urn:ietf:params:xml:ns:xmpp-streams')).toBeDefined();
  expect(ltx.parse(client.messages[client.messages.length - 1]!).name).toBe('close');
}

const cases: Array<{ name: string; fault: (s: Session) => void; trigger: (x: { client: TestClient; session: Session; upstream: FakeConnection }) => void; clientSeesError: boolean }> = [
  {
    name: 'a WebSocket message',
    fault: (s) => injectFault(s, 'clientElement'),
    trigger: ({ client }) => client.send('<presence xmlns="jabber:client"/>'),
    clientSeesError: true,
  },
  {
    name: 'upstream data',
    fault: (s) => injectFault(s, 'upstreamData'),
    trigger: ({ upstream }) => upstream.write('<presence/>'),
    clientSeesError: true,
  },
  {
    name: "the client socket's drain",
    fault: (s) => injectFault(s, 'clientDrained'),
    trigger: ({ session }) => (session['transport'] as unknown as { socket: NodeJS.EventEmitter }).socket.emit('drain'),
    clientSeesError: true,
  },
  {
    name: 'the keepalive timer',
    fault: (s) => injectFault(s['transport'], 'ping'),
    trigger: () => sweepNow(),
    clientSeesError: true,
  },
  {
    name: "the server socket's close handler",
    fault: (s) => injectFault(s, 'upstreamEnded'),
    trigger: ({ upstream }) => upstream.socket.destroy(),
    clientSeesError: true,
  },
  {
    name: "the client's close handler",
    fault: (s) => injectFault(s, 'clientGone'),
    trigger: ({ client }) => client.ws.terminate(),
    clientSeesError: false,
  },
];

describe.each(cases)('an exception in $name', ({ fault, trigger, clientSeesError }) => {
  it('ends that session as INTERNAL; the other session keeps relaying; the process serves new ones', async () => {
    const other = await openSession();
    const faulty = await openSession();
    const errorsBefore = await internalErrors();
    fault(faulty.session);
    trigger(faulty);
    if (clientSeesError) await expectInternalEnding(faulty.client);
    await waitUntil(() => !gw.gateway[kLiveSessions].has(faulty.session), 'the faulty session is released', 5000);
    expect(await internalErrors()).toBe(errorsBefore + 1);
    const logged = gw.logs.find((l) => l.event === 'internal_error');
    expect(String(logged?.err)).toMatch(/injected fault/);
    expect(String(logged?.err)).toMatch(/\n\s+at /); // the stack
    // The upstream side of the faulty session is gone too.
    await faulty.upstream.closed;

    await stillRelays(other.client, 'still-here');
    const fresh = await openSession();
    await stillRelays(fresh.client, 'new-one');
    expect(gw.gateway.sessionCount).toBe(2);
  });
});

it('an exception in the dial callback ends that session as INTERNAL', async () => {
  const other = await openSession();
  const client = await TestClient.open(gw.url);
  await waitUntil(() => gw.gateway[kLiveSessions].size === 2, 'the second session', 5000);
  const session = [...gw.gateway[kLiveSessions]].find((s) => s !== other.session)!;
  injectFault(session, 'upstreamReady');
  client.send(openXml());
  await expectInternalEnding(client);
  // The gateway opened the stream itself before the error (RFC 6120 §4.9.1.2).
  expect(ltx.parse(client.messages[0]!).name).toBe('open');
  await stillRelays(other.client, 'after-dial-fault');
});
