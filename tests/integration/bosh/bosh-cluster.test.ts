/**
 * BOSH with --workers 2 (./src/transports/bosh/peers.ts): the primary deals HTTP connections to the
 * workers round-robin, so a session's requests land on both; the worker that does not hold the sid
 * forwards the request to the one that does. 200 concurrent sessions each log in, exchange a
 * message and terminate; every one must succeed, and forwarding must have happened.
 */
import * as http from 'node:http';
import { FakeServer } from '../../helpers/fake-server';
import { BODY_NS, boshPost, children } from '../../helpers/bosh-client';
import { startCli, httpGet, type CliGateway } from '../../helpers/cli';

const SESSIONS = 200;
let server: FakeServer;
let cli: CliGateway;
let url: string;
let ops: string;

beforeAll(async () => {
  server = await FakeServer.start();
  // The fake server speaks plaintext: with --upstream-tls auto, each worker's first dials would add probe connections.
  const started = await startCli(server.port, ['--upstream-tls', 'none', '--log-level', 'info', '--max-connections-per-ip', '0', '--connection-rate-per-ip', '0/1s', '--max-bytes-per-second', '0'], 2);
  cli = started.cli;
  url = started.url.replace('ws://', 'http://').replace('/xmpp-websocket', '/http-bind');
  ops = started.ops;
}, 30_000);

afterAll(async () => {
  await cli?.kill();
  await server?.close();
});

/** One BOSH session: create, a message to itself (the fake server echoes it), terminate. Returns its sid. */
async function oneSession(i: number, agent: http.Agent): Promise<string> {
  let rid = 1000 + i * 100;
  const post = (xml: string): ReturnType<typeof boshPost> => boshPost(url, xml, { agent, timeoutMs: 30_000 });
  const created = await post(`<body rid='${rid++}' to='localhost' wait='5' hold='1' ver='1.6' xmpp:version='1.0' ${BODY_NS}/>`);
  const sid = created.body?.attrs.sid as string;
  if (!sid) throw new Error(`session ${i}: no sid in ${created.text}`);
  const text = `hello ${i}`;
  let reply = await post(`<body rid='${rid++}' sid='${sid}' ${BODY_NS}><message xmlns='jabber:client' to='u@localhost'><body>${text}</body></message></body>`);
  for (let tries = 0; !children(reply.body).some((c) => c.getChildText('body') === text); tries++) {
    if (tries > 5 || reply.body?.attrs.type === 'terminate') throw new Error(`session ${i}: no echo; last ${reply.text}`);
    reply = await post(`<body rid='${rid++}' sid='${sid}' ${BODY_NS}/>`);
  }
  const bye = await post(`<body rid='${rid++}' sid='${sid}' type='terminate' ${BODY_NS}/>`);
  if (bye.body?.attrs.type !== 'terminate' || bye.body.attrs.condition !== undefined) throw new Error(`session ${i}: terminate answered ${bye.text}`);
  return sid;
}

it(`${SESSIONS} concurrent BOSH sessions over 2 workers all succeed, with requests forwarded to the worker holding the session`, async () => {
  // Several keep-alive connections shared by all sessions, as a browser's pool is: the primary deals
  // the connections, so each session's requests reach both workers.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  try {
    const sids = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => oneSession(i, agent)));
    expect(new Set(sids).size).toBe(SESSIONS);
    // Sessions were created on both workers: their sids name worker ids.
    expect(new Set(sids.map((s) => s.split('.')[0])).size).toBe(2);
  } finally {
    agent.destroy();
  }
  // Streams only: /readyz's upstream probes also connect, without a stream header.
  const streams = server.connections.filter((c) => c.headers > 0);
  expect(streams).toHaveLength(SESSIONS);
  await Promise.all(streams.map((c) => c.closed));
  expect(streams.every((c) => c.gotFooter)).toBe(true);
  const metrics = (await httpGet(`${ops}/metrics`)).body;
  const sample = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? NaN);
  expect(sample(/^xmppgw_bosh_requests_total\{result="created"\} (\d+)/m)).toBe(SESSIONS);
  expect(sample(/^xmppgw_bosh_requests_total\{result="forwarded"\} (\d+)/m)).toBeGreaterThan(0);
  expect(sample(/^xmppgw_bosh_terminations_total\{condition="none"\} (\d+)/m)).toBe(SESSIONS);
  expect(sample(/^xmppgw_bosh_sessions (\d+)/m)).toBe(0);
  expect(cli.events('internal_error')).toEqual([]);
}, 120_000);
