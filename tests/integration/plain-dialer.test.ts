/** The plain-TCP Dialer (src/upstream/plain-dialer.ts) over real sockets: outcome rows, and cancel. */
import * as net from 'node:net';
import { plainDialer } from '../../src/upstream/plain-dialer';
import type { DialOutcome } from '../../src/upstream/dialer';
import { closedPort } from '../helpers/fake-server';

const request = { domain: 'example.org', clientAddress: '127.0.0.1' };
const dial = (port: number, timeoutMs = 5000): Promise<DialOutcome> =>
  new Promise((resolve) => plainDialer({ host: '127.0.0.1', port }, timeoutMs)(request, resolve));

it('hands over a connected socket, with where it went', async () => {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const outcome = await dial(port);
  expect(outcome).toMatchObject({ ok: true, target: `127.0.0.1:${port}`, secure: false });
  if (outcome.ok) outcome.socket.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

it('a refused connection is the UPSTREAM_CONNECT_FAILED row with result refused', async () => {
  const outcome = await dial(await closedPort());
  expect(outcome).toMatchObject({ ok: false, code: 'UPSTREAM_CONNECT_FAILED', result: 'refused' });
  if (!outcome.ok) expect(outcome.message).toMatch(/cannot reach the XMPP server: ECONNREFUSED/);
});

it('cancel abandons the attempt: done is never called', async () => {
  const server = net.createServer();
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const calls: DialOutcome[] = [];
  const handle = plainDialer({ host: '127.0.0.1', port }, 5000)(request, (o) => calls.push(o));
  handle.cancel();
  handle.cancel(); // idempotent
  // Give a connection time to be made and reported, if the cancel had not held.
  await new Promise((r) => setTimeout(r, 200));
  expect(calls).toEqual([]);
  for (const s of accepted) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});
