/**
 * Flow control both ways (no unbounded queue): a slow reader on either side makes the gateway stop
 * reading the other side, and once it catches up every element arrives exactly once, in order.
 */
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { TestClient, openXml } from '../helpers/ws-client';
import { FakeServer, SERVER_HEADER, FEATURES_SASL } from '../helpers/fake-server';

const COUNT = 1500;
const BODY = 'x'.repeat(10_000);
const HWM = 256 * 1024;

let server: FakeServer;
let gw: RunningGateway;
afterEach(async () => {
  await gw?.close();
  await server?.close();
});

const until = async (cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

it('a slow WebSocket client pauses reads from the server, then gets everything in order', async () => {
  server = await FakeServer.start((conn) => {
    conn.socket.once('data', () => {
      conn.write(SERVER_HEADER('bp') + FEATURES_SASL);
      // Write as fast as the socket takes it: 15 MB of messages.
      let i = 0;
      const pump = (): void => {
        while (i < COUNT) {
          const ok = conn.socket.write(`<message id='m${i}'><body>${BODY}</body></message>`);
          i++;
          if (!ok) {
            conn.socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
  gw = await startGateway({ upstream: server.upstream, wsHighWaterMark: HWM });
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitFor(1);
  c.ws.pause(); // the client stops reading
  const conn = await server.nextConnection(0);
  await until(() => gw.logs.some((l) => l.event === 'backpressure_pause' && l.side === 'tcp'), 10_000, 'tcp pause');
  await new Promise((r) => setTimeout(r, 300));
  // The server cannot write any more: the gateway stopped reading instead of buffering 15 MB.
  expect(conn.socket.writableLength).toBeGreaterThan(0);
  const stalledAt = c.messages.length;
  expect(stalledAt).toBeLessThan(COUNT);
  c.ws.resume();
  await c.waitFor(COUNT + 2, 120_000);
  const ids = c.messages.slice(2).map((m) => /id='(m\d+)'/.exec(m)?.[1]);
  expect(ids).toEqual(Array.from({ length: COUNT }, (_, i) => `m${i}`));
  expect(c.messages.slice(2).every((m, i) => m === `<message xmlns="jabber:client" id='m${i}'><body>${BODY}</body></message>`)).toBe(true);
  expect(gw.logs.some((l) => l.event === 'backpressure_resume' && l.side === 'tcp')).toBe(true);
  c.ws.close();
}, 300_000);

it('a slow server pauses reads from the WebSocket client, then gets everything in order', async () => {
  let paused!: FakeServer['connections'][number];
  server = await FakeServer.start((conn) => {
    conn.socket.once('data', () => {
      conn.write(SERVER_HEADER('bp') + FEATURES_SASL);
      conn.socket.pause(); // the server stops reading
      paused = conn;
    });
  });
  gw = await startGateway({ upstream: server.upstream });
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitFor(2);
  for (let i = 0; i < COUNT; i++) c.send(`<message id='c${i}'><body>${BODY}</body></message>`);
  await until(() => gw.logs.some((l) => l.event === 'backpressure_pause' && l.side === 'ws'), 10_000, 'ws pause');
  await new Promise((r) => setTimeout(r, 300));
  // The client cannot send any more: the gateway stopped reading the WebSocket.
  expect(c.ws.bufferedAmount).toBeGreaterThan(0);
  paused.socket.resume();
  // Look for the last message near the end of what arrived (15 MB in all): a regex over the whole
  // string on every read would make the wait itself quadratic.
  const last = `<message id='c${COUNT - 1}'>`;
  await until(() => paused.received.indexOf(last, Math.max(0, paused.received.length - 2 * BODY.length)) >= 0, 120_000, 'the last message upstream');
  const ids = [...paused.received.matchAll(/<message id='(c\d+)'>/g)].map((m) => m[1]);
  expect(ids).toEqual(Array.from({ length: COUNT }, (_, i) => `c${i}`));
  expect(gw.logs.some((l) => l.event === 'backpressure_resume' && l.side === 'ws')).toBe(true);
  c.ws.close();
}, 300_000);
