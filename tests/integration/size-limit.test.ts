/**
 * One meaning of --max-stanza-size (src/limits.ts): the largest XML element, either direction.
 * A WebSocket message is not held to it (it may carry whitespace around its element) up to twice
 * the limit, where ws refuses it before buffering.
 */
import * as ltx from 'ltx';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { FakeServer } from '../helpers/fake-server';
import { TestClient, openXml } from '../helpers/ws-client';

const LIMIT = 10_000;
let server: FakeServer;
let gw: RunningGateway;

beforeEach(async () => {
  server = await FakeServer.start();
  gw = await startGateway({ upstream: server.upstream, maxStanzaSize: LIMIT });
});
afterEach(async () => {
  await gw.close();
  await server.close();
});

async function opened(): Promise<TestClient> {
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.waitForMatch(/mechanisms/);
  return c;
}

it('an element within the limit is relayed even when its message, with whitespace, is larger', async () => {
  const c = await opened();
  const body = 'b'.repeat(LIMIT - 200);
  const element = `<message xmlns="jabber:client" to="a@b" id="big"><body>${body}</body></message>`;
  expect(element.length).toBeLessThanOrEqual(LIMIT);
  const message = `${' '.repeat(LIMIT / 2)}${element}\n`;
  expect(message.length).toBeGreaterThan(LIMIT);
  c.send(message);
  await server.connections[0]!.waitFor(/id="big"[\s\S]*<\/message>/);
  expect(server.connections[0]!.received).toContain(element);
  expect(c.ws.readyState).toBe(c.ws.OPEN);
  c.ws.close();
});

it('an element over the limit ends the session with policy-violation, whatever the message size', async () => {
  const c = await opened();
  c.send(`<message xmlns="jabber:client" to="a@b"><body>${'b'.repeat(LIMIT)}</body></message>`);
  const closed = await c.closed;
  expect(closed.code).toBe(1000);
  const error = c.messages.map((m) => ltx.parse(m)).find((el) => el.name === 'stream:error');
  expect(error?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-streams')).toBeDefined();
});

it('a server element over the limit is refused the same way', async () => {
  const c = await opened();
  server.connections[0]!.write(`<message to='a@b'><body>${'s'.repeat(LIMIT)}</body></message>`);
  const closed = await c.closed;
  expect(closed.code).toBe(1000);
  await server.connections[0]!.waitFor(/policy-violation/);
});
