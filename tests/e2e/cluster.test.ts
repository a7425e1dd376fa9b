/**
 * `--workers 2`: the real command line as a cluster primary with two workers in front of a private
 * Prosody. Sessions are spread over both workers (each log line names its `worker`); /metrics on the
 * operations listener sums every worker; a worker killed with SIGKILL is logged, counted and replaced
 * while the other worker's sessions carry on; SIGTERM drains every worker and the primary exits 0.
 *
 * The tests run in order against one cluster, each building on the state the previous one left.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { NS_STREAMS, is, login, waitUntil, type RawSession, type XmlElement } from '../helpers/raw-xmpp';
import { CliGateway, httpGet, waitForReadyz } from '../helpers/cli';

const NS_XMPP_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
const ANON_DOMAIN = 'anon.localhost';
const STEP_MS = 10_000;
const DRAIN_MS = 500;

/** Child processes of `pid` (the cluster's workers), from ps. */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

function isGatewayProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('xmpp-ws-gateway');
  } catch {
    return false;
  }
}

/** Prometheus text format: every sample, keyed by `name{labels}` (a repeated series keeps every value), and the TYPE lines. */
function parseExposition(text: string): { samples: Map<string, number[]>; types: string[] } {
  const samples = new Map<string, number[]>();
  const types: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) types.push(line.split(' ')[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    samples.set(key, [...(samples.get(key) ?? []), Number(line.slice(space + 1))]);
  }
  return { samples, types };
}

async function scrape(ops: string): Promise<{ samples: Map<string, number[]>; types: string[] }> {
  const r = await httpGet(`${ops}/metrics`);
  if (r.status !== 200) {
    const hint = /timed out/i.test(r.body) ? " (the primary's AggregatorRegistry got no answer from a worker's registry)" : '';
    throw new Error(`GET /metrics answered ${r.status}: ${r.body.trim()}${hint}`);
  }
  return parseExposition(r.body);
}

const chat = (to: string, body: string): string =>
  `<message xmlns="jabber:client" type="chat" to="${to}" id="m-${randomBytes(4).toString('hex')}"><body>${body}</body></message>`;
const hasBody = (body: string) => (el: XmlElement): boolean => is.message(el) && el.getChildText('body') === body;

/** A logged-in raw session, the worker that serves it (from its `connection_opened` line), and the messages it sent. */
interface Served {
  readonly s: RawSession;
  readonly worker: number;
  sent: number;
}

describe('--workers 2 in front of Prosody', () => {
  let prosody: ProsodyInstance;
  let cli: CliGateway;
  let url = '';
  let ops = '';
  const workerPids = new Set<number>();
  /** The sessions on live workers (a killed worker's sessions, and its counters, are gone with it). */
  const sessions: Served[] = [];
  const messagesSent = (): number => sessions.reduce((n, x) => n + x.sent, 0);

  /** Logs in (SASL ANONYMOUS) and finds the worker from the next `connection_opened` line: logins are sequential. */
  const loginOne = async (): Promise<Served> => {
    const before = cli.events('connection_opened').length;
    const s = await login(url, { domain: ANON_DOMAIN, mechanism: 'ANONYMOUS' });
    const opened = await cli.waitForEvents('connection_opened', before + 1);
    const served = { s, worker: opened[before]!.worker!, sent: 0 };
    sessions.push(served);
    return served;
  };

  /** Sends `n` chat messages to the session's own full JID and waits for each to come back. */
  const relay = async (x: Served, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const body = `echo ${i} ${randomBytes(4).toString('hex')}`;
      x.s.send(chat(x.s.jid, body));
      x.sent++;
      await x.s.waitFor(hasBody(body), `message ${i} back from the server`, STEP_MS);
    }
  };

  beforeAll(async () => {
    prosody = await startProsody({ accounts: [], anonymousHost: ANON_DOMAIN });
    cli = new CliGateway([
      '--listen', '127.0.0.1:0',
      '--metrics-listen', '127.0.0.1:0',
      '--upstream', `127.0.0.1:${prosody.c2sPort}`,
      '--workers', '2',
      '--drain-timeout', `${DRAIN_MS}ms`,
      '--log-level', 'debug',
    ]);
    const [opsLine] = await cli.waitForEvents('ops_listening');
    const listening = await cli.waitForEvents('listening', 2);
    await cli.waitForEvents('cluster_ready');
    // Both workers share the one listener the primary holds.
    expect(listening[0]!.port).toBe(listening[1]!.port);
    url = `ws://127.0.0.1:${String(listening[0]!.port)}/xmpp-websocket`;
    ops = `http://127.0.0.1:${String(opsLine!.port)}`;
    for (const pid of childPids(cli.child.pid!)) workerPids.add(pid);
    await waitForReadyz(ops, 200);
  });

  afterAll(async () => {
    for (const { s } of sessions) s.terminate();
    if (cli?.alive) cli.child.kill('SIGKILL');
    await cli?.exited;
    // Workers exit when the primary's IPC channel closes; make sure of it.
    for (const pid of workerPids) {
      await waitUntil(() => !isGatewayProcess(pid), `worker ${pid} to exit`, 5000).catch(() => {
        if (isGatewayProcess(pid)) process.kill(pid, 'SIGKILL');
      });
    }
    await prosody?.stop();
  });

  it('spreads sessions over both workers; each log line of a session names its worker', async () => {
    expect(workerPids.size).toBe(2);
    expect(new Set(cli.events('listening').map((l) => l.worker))).toEqual(new Set([1, 2]));
    for (let i = 0; i < 4; i++) await loginOne();
    expect(new Set(sessions.map((x) => x.worker))).toEqual(new Set([1, 2]));
    // Session i sends i + 1 messages: a total only the sum over both workers can reach.
    for (const [i, x] of sessions.entries()) await relay(x, i + 1);
    for (const l of cli.events('connection_opened')) expect(l).toMatchObject({ worker: expect.any(Number), conn_id: expect.any(String) });
  });

  it('/metrics on the operations listener sums every worker', async () => {
    const { samples, types } = await scrape(ops);
    // One family per name: Prometheus rejects an exposition that repeats a TYPE.
    expect(types.filter((t, i) => types.indexOf(t) !== i)).toEqual([]);
    expect(samples.get('xmppgw_workers')).toEqual([2]);
    expect(samples.get('xmppgw_elements_total{direction="c2s",kind="message"}')).toEqual([messagesSent()]);
    expect(samples.get('xmppgw_elements_total{direction="s2c",kind="message"}')).toEqual([messagesSent()]);
    expect(samples.get('xmppgw_connections{state="open"}')).toEqual([sessions.length]);
  });

  it('SIGKILL on a worker: worker_died, replaced, /readyz 200 again, new sessions served; the other worker\'s sessions carry on', async () => {
    const [victimPid] = [...workerPids];
    process.kill(victimPid!, 'SIGKILL');

    const [died] = await cli.waitForEvents('worker_died');
    expect(died).toMatchObject({ worker_pid: victimPid, signal: 'SIGKILL' });

    // Exactly the killed worker's sessions drop (no close frame: 1006); the others stay open.
    await waitUntil(() => sessions.some((x) => x.s.isClosed), 'a session of the killed worker to drop', STEP_MS);
    const victim = sessions.find((x) => x.s.isClosed)!.worker;
    const onVictim = sessions.filter((x) => x.worker === victim);
    const survivors = sessions.filter((x) => x.worker !== victim);
    await waitUntil(() => onVictim.every((x) => x.s.isClosed), 'every session of the killed worker to drop', STEP_MS);
    for (const x of onVictim) expect((await x.s.client.closed).code).toBe(1006);
    expect(survivors.length).toBeGreaterThan(0);
    for (const x of survivors) expect(x.s.isClosed).toBe(false);
    for (const x of survivors) await relay(x, 1);

    // A replacement worker listens, and readiness (which wants every worker) recovers.
    const [replacement] = await cli.waitForEvents('listening', 1, STEP_MS, (l) => l.worker !== 1 && l.worker !== 2);
    const newWorker = replacement!.worker!;
    expect(newWorker).not.toBe(victim);
    expect(await waitForReadyz(ops, 200)).toBe('ready (2 workers)\n');
    for (const pid of childPids(cli.child.pid!)) workerPids.add(pid);

    // New sessions are served, by the replacement among others (the primary hands them out in turn).
    sessions.splice(0, sessions.length, ...survivors);
    const fresh = [await loginOne(), await loginOne()];
    expect(fresh.map((x) => x.worker)).toContain(newWorker);
    for (const x of fresh) await relay(x, 1);
    expect(cli.events('worker_died')).toHaveLength(1);
  });

  it('/metrics counts the restart once and sees two workers again', async () => {
    const { samples } = await scrape(ops);
    expect(samples.get('xmppgw_worker_restarts_total')).toEqual([1]);
    expect(samples.get('xmppgw_workers')).toEqual([2]);
    expect(samples.get('xmppgw_connections{state="open"}')).toEqual([sessions.length]);
    // The survivor's counters, plus the replacement's; the killed worker's died with it.
    expect(samples.get('xmppgw_elements_total{direction="c2s",kind="message"}')).toEqual([messagesSent()]);
  });

  it('SIGTERM drains every worker: sessions on both get system-shutdown, <close/>, 1001; the primary exits 0', async () => {
    const workersWithSessions = new Set(sessions.map((x) => x.worker));
    expect(workersWithSessions.size).toBe(2);
    cli.child.kill('SIGTERM');
    const closes = await Promise.all(sessions.map((x) => x.s.client.closed));
    for (const [i, { s }] of sessions.entries()) {
      s.assertAllParsed();
      expect(closes[i]!.code).toBe(1001);
      const [err, close] = s.received.slice(-2);
      expect(err!.el!.getName()).toBe('error');
      expect(err!.el!.getNS()).toBe(NS_STREAMS);
      expect(err!.el!.getChild('system-shutdown', NS_XMPP_STREAMS)).toBeDefined();
      expect(close!.raw).toBe('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
    }
    const exit = await cli.exited;
    expect(exit.code).toBe(0);
    const shutdowns = cli.events('session_closed').filter((l) => l.reason === 'shutdown');
    expect(new Set(shutdowns.map((l) => l.worker))).toEqual(workersWithSessions);
    expect(shutdowns).toHaveLength(sessions.length);
    expect(cli.events('draining').map((l) => l.worker).sort()).toEqual([...workersWithSessions].sort());
    expect(cli.events('stopped')).toHaveLength(1);
    // Every worker process is gone with the primary.
    for (const pid of workerPids) await waitUntil(() => !isGatewayProcess(pid), `worker ${pid} to exit`, 5000);
    expect(cli.junk).toEqual([]);
  });
});
