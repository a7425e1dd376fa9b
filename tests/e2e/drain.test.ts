/**
 * Graceful drain of the real command line (`node bin/xmpp-ws-gateway.js`) in front of a private
 * Prosody, with real clients logged in: raw RFC 7395 sessions (tests/helpers/raw-xmpp.ts) and one
 * `stanza` client in this process.
 *
 * What SIGTERM must do, in order: /readyz turns 503 `draining` while every session is still open;
 * new WebSocket handshakes are refused; open sessions keep relaying for `--drain-timeout`; a session
 * that closes by itself in that time closes normally; then the rest get `<stream:error><system-shutdown/>`,
 * `<close/>` and WebSocket close 1001 (or, with `--redirect-uri`, `<close see-other-uri>` and no stream
 * error), and the process exits 0 soon after. Run for one process (`--workers 1`) and for a cluster
 * (`--workers 2`).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as XMPP from 'stanza';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { NS_STREAMS, is, login, waitUntil, type RawSession, type XmlElement } from '../helpers/raw-xmpp';
import { TestClient } from '../helpers/ws-client';
import { BIN, httpGet, startCli, type CliGateway } from '../helpers/cli';

const NS_XMPP_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams';
// Long enough that the steps run during the grace period finish inside it on a loaded 2-core
// machine; the test asserts order and outcome, never how fast the gateway drains.
const GRACE_MS = 10_000;
const STEP_MS = 10_000;

/**
 * A new WebSocket handshake: resolves with how it was refused (`ECONNREFUSED`, `HTTP 503`, or
 * `ECONNRESET` when a cluster primary drops a connection no worker takes); throws if it was accepted.
 */
async function handshakeRefusal(url: string): Promise<string> {
  const c = new TestClient(url);
  try {
    await c.opened;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { statusCode?: number };
    if (e.statusCode !== undefined) return `HTTP ${e.statusCode}`;
    return e.code ?? e.message;
  }
  c.ws.terminate();
  throw new Error('a new WebSocket handshake was accepted while draining');
}

// ---------------------------------------------------------------- clients

const chat = (to: string, body: string): string =>
  `<message xmlns="jabber:client" type="chat" to="${to}" id="m-${randomBytes(4).toString('hex')}"><body>${body}</body></message>`;
const hasBody = (body: string) => (el: XmlElement): boolean => is.message(el) && el.getChildText('body') === body;

/** The messages after login, in arrival order, as raw strings (for exact-form checks). */
const rawAfter = (s: RawSession, from: number): string[] => s.received.slice(from).map((r) => r.raw);

/** A `stanza` client: the library's own login (SCRAM or PLAIN, whatever it prefers), messages, stream errors. */
class StanzaUser {
  readonly client: XMPP.Agent;
  readonly bodies: string[] = [];
  readonly streamErrors: string[] = [];
  readonly incoming: string[] = [];
  disconnected = false;
  jid = '';

  constructor(url: string, domain: string, account: { jid: string; password: string }) {
    this.client = XMPP.createClient({
      jid: account.jid,
      password: account.password,
      server: domain,
      transports: { websocket: url, bosh: false },
      autoReconnect: false,
      allowResumption: false,
    });
    this.client.on('message', (msg) => {
      if (msg.body !== undefined) this.bodies.push(msg.body);
    });
    this.client.on('raw:incoming', (data: string) => this.incoming.push(data));
    // stanza emits a received <stream:error> under its parser kind, `streamError`.
    (this.client as unknown as NodeJS.EventEmitter).on('streamError', (e: { condition?: string }) => this.streamErrors.push(String(e.condition)));
    this.client.on('disconnected', () => {
      this.disconnected = true;
    });
  }

  async connect(): Promise<void> {
    let failed: string | null = null;
    this.client.on('auth:failed', () => (failed = 'authentication failed'));
    this.client.on('session:started', () => (this.jid = this.client.jid));
    this.client.connect();
    await waitUntil(() => this.jid !== '' || failed !== null || this.disconnected, 'the stanza session to start', STEP_MS);
    if (this.jid === '') throw new Error(`stanza login failed: ${failed ?? 'disconnected'}; received ${this.incoming.join('\n')}`);
  }
}

// ---------------------------------------------------------------- tests

describe('graceful drain of the CLI in front of Prosody', () => {
  let prosody: ProsodyInstance;
  const running: CliGateway[] = [];
  const clients: Array<{ terminate(): void }> = [];

  beforeAll(async () => {
    prosody = await startProsody({ accounts: ['alice', 'bob', 'carol', 'dave'].map((username) => ({ username })) });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all(running.splice(0).map((g) => g.kill()));
  });
  afterAll(async () => {
    await prosody?.stop();
  });

  const account = (name: string) => prosody.accounts.find((a) => a.username === name)!;
  const rawLogin = async (url: string, name: string): Promise<RawSession> => {
    const s = await login(url, { domain: prosody.domain, username: name, password: account(name).password, mechanism: 'PLAIN' });
    clients.push(s);
    return s;
  };

  it.each([1, 2])('--workers %i: readyz draining first, refuses new sessions, relays during the grace period, then system-shutdown and exit 0', async (workers) => {
    const { cli, url, ops } = await startCli(prosody.c2sPort, ['--drain-timeout', `${GRACE_MS}ms`], workers);
    running.push(cli);

    const alice = await rawLogin(url, 'alice');
    const bob = await rawLogin(url, 'bob');
    const carol = await rawLogin(url, 'carol');
    const dave = new StanzaUser(url, prosody.domain, account('dave'));
    clients.push({ terminate: () => dave.client.disconnect() });
    await dave.connect();
    const opened = await cli.waitForEvents('connection_opened', 4);
    if (workers > 1) {
      // The cluster shares the listener round-robin: both workers hold sessions being drained.
      expect(new Set(opened.map((l) => l.worker)).size).toBe(2);
    }
    const loginCounts = [alice, bob, carol].map((s) => s.received.length);

    const t0 = Date.now();
    cli.child.kill('SIGTERM');

    // Readiness fails first, while every session is still open and untouched.
    let ready = await httpGet(`${ops}/readyz`);
    for (let i = 0; i < 100 && ready.status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      ready = await httpGet(`${ops}/readyz`);
    }
    expect(ready).toEqual({ status: 503, body: 'draining\n' });
    for (const s of [alice, bob, carol]) expect(s.isClosed).toBe(false);
    expect(dave.disconnected).toBe(false);
    expect(cli.events('session_closed')).toEqual([]);

    // No new sessions once the gateway (every worker) has started draining.
    await cli.waitForEvents('draining', workers);
    // One process closes its listener at once. In a cluster the primary owns the socket and closes it
    // once every worker has let go; a connection it accepted just before that is reset, never served.
    const refusal = await handshakeRefusal(url);
    expect(workers === 1 ? ['ECONNREFUSED'] : ['ECONNREFUSED', 'HTTP 503', 'ECONNRESET']).toContain(refusal);

    // Open sessions keep working during the grace period, in both directions and across workers.
    const toBob = `during drain ${randomBytes(4).toString('hex')}`;
    alice.send(chat(bob.jid, toBob));
    await bob.waitFor(hasBody(toBob), 'alice\'s message during the drain', STEP_MS);
    const toDave = `to stanza during drain ${randomBytes(4).toString('hex')}`;
    alice.send(chat(dave.jid, toDave));
    await waitUntil(() => dave.bodies.includes(toDave), 'the stanza client to get a message during the drain', STEP_MS);
    const fromDave = `from stanza during drain ${randomBytes(4).toString('hex')}`;
    dave.client.sendMessage({ to: alice.jid, type: 'chat', body: fromDave });
    await alice.waitFor(hasBody(fromDave), 'the stanza client\'s message during the drain', STEP_MS);

    // A session that ends by itself during the grace period ends normally: <close/> both ways, 1000.
    expect(await carol.close(STEP_MS)).toBe(1000);
    expect(rawAfter(carol, loginCounts[2]!).some((m) => m.includes('<stream:error'))).toBe(false);

    // After the grace period: system-shutdown, <close/>, 1001 for everyone still there.
    const [aliceClosed, bobClosed] = await Promise.all([alice.client.closed, bob.client.closed]);
    const endedAt = Date.now();
    expect(endedAt - t0).toBeGreaterThanOrEqual(GRACE_MS - 50);
    for (const [s, closed, before] of [[alice, aliceClosed, loginCounts[0]!], [bob, bobClosed, loginCounts[1]!]] as const) {
      s.assertAllParsed();
      expect(closed.code).toBe(1001);
      const tail = s.received.slice(-2);
      const err = tail[0]!.el!;
      expect(err.getName()).toBe('error');
      expect(err.getNS()).toBe(NS_STREAMS);
      expect(err.getChild('system-shutdown', NS_XMPP_STREAMS)).toBeDefined();
      expect(tail[1]!.raw).toBe('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
      // Exactly one stream error, and it came at the end.
      expect(rawAfter(s, before).filter((m) => m.includes('<stream:error')).length).toBe(1);
    }
    await waitUntil(() => dave.disconnected, 'the stanza client to be disconnected', STEP_MS);
    expect(dave.streamErrors).toEqual(['system-shutdown']);

    // The process exits by itself once every session is gone (the jest timeout bounds the wait).
    const exit = await cli.exited;
    expect(exit.code).toBe(0);
    expect(cli.events('stopped')).toHaveLength(1);

    // In order: carol's own close during the grace period, then the shutdowns at its end.
    const closed = cli.events('session_closed');
    expect(closed.map((l) => l.reason)).toEqual(['client_closed', 'shutdown', 'shutdown', 'shutdown']);
    if (workers > 1) {
      const shutdownWorkers = new Set(closed.filter((l) => l.reason === 'shutdown').map((l) => l.worker));
      expect(shutdownWorkers.size).toBe(2);
    }
    expect(cli.junk).toEqual([]);
  }, 120_000);

  it('--redirect-uri: remaining sessions get <close see-other-uri> and no stream error', async () => {
    const redirect = 'wss://other.example/xmpp-websocket';
    const { cli, url } = await startCli(prosody.c2sPort, ['--drain-timeout', '300ms', '--redirect-uri', redirect], 1);
    running.push(cli);
    const alice = await rawLogin(url, 'alice');
    const bob = await rawLogin(url, 'bob');
    const before = [alice.received.length, bob.received.length];

    cli.child.kill('SIGTERM');
    const closes = await Promise.all([alice.client.closed, bob.client.closed]);
    for (const [i, s] of [alice, bob].entries()) {
      s.assertAllParsed();
      const after = rawAfter(s, before[i]!);
      expect(after).toEqual([`<close xmlns="urn:ietf:params:xml:ns:xmpp-framing" see-other-uri="${redirect}"/>`]);
      expect(closes[i]!.code).toBe(1001);
    }
    const exit = await cli.exited;
    expect(exit.code).toBe(0);
    expect(cli.events('session_closed').map((l) => l.reason)).toEqual(['shutdown_redirect', 'shutdown_redirect']);
  });

  it('--redirect-uri ws://… is refused at start with exit 2 (never redirect to a weaker transport)', () => {
    const r = spawnSync(process.execPath, [BIN, '--redirect-uri', 'ws://other.example/xmpp-websocket', '--listen', '127.0.0.1:0', '--metrics-listen', 'off'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
      timeout: 10_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid --redirect-uri "ws:\/\/other\.example\/xmpp-websocket": expected a wss:\/\/ URI/);
    expect(r.stdout).toBe('');
  });
});
