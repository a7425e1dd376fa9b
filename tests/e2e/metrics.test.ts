/**
 * /metrics as Prometheus scrapes it: startSingle (gateway + operations listener on 127.0.0.1:0) in
 * front of a private Prosody, real RFC 7395 sessions (SASL PLAIN logins, messages both ways, a
 * not-well-formed message, a client that never opens its stream), and a second gateway whose
 * upstream port is closed. The exposition text is parsed here, by a small parser of the text format,
 * and the test asserts how each series moved between a scrape before and a scrape after: exact
 * where the sessions determine the number, bounded below where the server adds its own traffic.
 *
 * It also asserts what must never be in a label: a JID, an IP address or a connection id (those
 * belong in logs), by checking every label value of every series, and that every `xmppgw_` label
 * takes its values from a closed set.
 */
import * as http from 'node:http';
import { isIP } from 'node:net';
import { startSingle, type SingleProcess } from '../../src/cluster';
import { defaultConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { ORIGIN_REFUSAL_REASONS } from '../../src/http/origin';
import { SESSION_STATES } from '../../src/metrics';
import { FAILURES, STREAM_ERROR_CONDITIONS } from '../../src/xmpp/stream-error';
import { VERSION } from '../../src/version';
import { closedPort } from '../helpers/fake-server';
import { TestClient, openXml } from '../helpers/ws-client';
import { NS_CLIENT, bareJid, escapeAttr, escapeText, is, login, waitUntil, type RawSession, type XmlElement } from '../helpers/raw-xmpp';

// ---------------------------------------------------------------- the Prometheus text format (0.0.4)

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Exposition {
  readonly samples: readonly Sample[];
  /** `# TYPE` of each metric family. */
  readonly types: ReadonlyMap<string, string>;
}

function parseValue(raw: string, line: string): number {
  // Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case; prom-client writes "Nan".
  if (/^\+?inf$/i.test(raw)) return Infinity;
  if (/^-inf$/i.test(raw)) return -Infinity;
  if (/^nan$/i.test(raw)) return NaN;
  const v = Number(raw);
  if (raw === '' || Number.isNaN(v)) throw new Error(`bad sample value in ${JSON.stringify(line)}`);
  return v;
}

/** `{a="x",b="y\"z"}` starting at `line[start]` === '{' → labels and the index after '}'. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const fail = (why: string): never => {
    throw new Error(`${why} at column ${i} of ${JSON.stringify(line)}`);
  };
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const nameMatch = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (nameMatch === null) fail('expected a label name');
    const name = nameMatch![0];
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') fail('expected ="');
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const e = line[i + 1];
        value += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : fail(`bad escape \\${e ?? ''}`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++; // closing quote
    if (name in labels) fail(`label ${name} repeated`);
    labels[name] = value;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') fail('expected , or }');
  }
}

function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      else if (!/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) throw new Error(`unexpected comment line ${JSON.stringify(line)}`);
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (nameMatch === null) throw new Error(`no metric name in ${JSON.stringify(line)}`);
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(line, name.length);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    }
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2) throw new Error(`expected "value [timestamp]" in ${JSON.stringify(line)}`);
    samples.push({ name, labels, value: parseValue(parts[0]!, line) });
  }
  return { samples, types };
}

/** Series of `name` whose labels include every pair in `labels`. */
function matching(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of exactly one series (no other labels than `labels`). */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const hits = matching(e, name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
  if (hits.length !== 1) {
    throw new Error(`expected one series ${name}${JSON.stringify(labels)}, found ${hits.length}; ${name} has: ${JSON.stringify(matching(e, name))}`);
  }
  return hits[0]!.value;
}

/** Sum over every series of `name` whose labels include `labels`. */
function total(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  return matching(e, name, labels).reduce((n, s) => n + s.value, 0);
}

function get(port: number, path: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within 5 s`)));
    req.on('error', reject);
  });
}

async function scrape(single: SingleProcess): Promise<Exposition> {
  const r = await get(single.opsAddress!.port, '/metrics');
  expect(r.status).toBe(200);
  expect(r.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(r.body);
}

// ---------------------------------------------------------------- label hygiene

/** Every value each `xmppgw_` label may take: bounded sets, nothing per user, address or connection. */
const ALLOWED_LABEL_VALUES: Record<string, ReadonlySet<string>> = {
  version: new Set([VERSION]),
  node_version: new Set([process.version]),
  state: new Set(SESSION_STATES),
  framing: new Set(['rfc7395', 'legacy']),
  result: new Set(['accepted', 'bad_protocol', 'bad_origin', 'bad_path', 'over_limit', 'rate_limited', 'draining', 'head_timeout', 'pending_per_ip', 'ok', 'refused', 'timeout', 'error', 'cache_hit', 'answered', 'negative', 'failed']),
  direction: new Set(['c2s', 's2c']),
  kind: new Set(['message', 'presence', 'iq', 'other']),
  condition: new Set(STREAM_ERROR_CONDITIONS),
  origin: new Set(['gateway', 'client', 'server']),
  code: new Set(['1000', '1001', '1003', '1006', '1007', '1009', '1011', 'other']),
  side: new Set(['ws', 'tcp', 'rate_limit']),
  reason: new Set([...Object.values(FAILURES).map((f) => f.event), ...ORIGIN_REFUSAL_REASONS]),
};

const looksLikeAddress = (v: string): boolean => isIP(v) !== 0 || /\d{1,3}(\.\d{1,3}){3}/.test(v) || /[0-9a-f]*:[0-9a-f]*:/i.test(v);

/**
 * No label value anywhere is a JID, an address or one of `identities`; every `xmppgw_` label is
 * known and takes a value from its closed set (`le` is a bucket bound: a number).
 */
function assertNoIdentities(e: Exposition, identities: { jids: string[]; addresses: string[]; connIds: string[] }): void {
  expect(identities.connIds.length).toBeGreaterThan(0); // the check below means something
  const forbidden = new Set([...identities.jids, ...identities.jids.map(bareJid), ...identities.addresses]);
  for (const s of e.samples) {
    for (const [label, v] of Object.entries(s.labels)) {
      const where = `${s.name}{${label}="${v}"}`;
      if (v.includes('@') || looksLikeAddress(v) || forbidden.has(v)) throw new Error(`identity in a label: ${where}`);
      if (!s.name.startsWith('xmppgw_')) continue;
      if (label === 'le') {
        if (!(v === '+Inf' || Number.isFinite(Number(v)))) throw new Error(`bucket bound is not a number: ${where}`);
        continue;
      }
      if (identities.connIds.includes(v)) throw new Error(`connection id in a label: ${where}`);
      const allowed = ALLOWED_LABEL_VALUES[label];
      if (allowed === undefined) throw new Error(`unexpected label name: ${where}`);
      if (!allowed.has(v)) throw new Error(`label value outside its closed set: ${where}`);
    }
  }
}

// ---------------------------------------------------------------- the running system

interface Instance {
  readonly single: SingleProcess;
  readonly url: string;
  readonly logs: Array<Record<string, unknown>>;
}

async function startInstance(upstreamPort: number, overrides: Partial<Config> = {}): Promise<Instance> {
  const config = defaultConfig({
    listen: { host: '127.0.0.1', port: 0 },
    metricsListen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: upstreamPort },
    connectTimeoutMs: 2000,
    drainTimeoutMs: 1000,
    ...overrides,
  });
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', 'json', { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const single = await startSingle(config, log);
  return { single, url: `ws://127.0.0.1:${single.address.port}${config.path}`, logs };
}

function identitiesIn(instance: Instance, sessions: RawSession[]): { jids: string[]; addresses: string[]; connIds: string[] } {
  const connIds = [...new Set(instance.logs.flatMap((l) => (typeof l.conn_id === 'string' ? [l.conn_id] : [])))];
  const addresses = [...new Set(instance.logs.flatMap((l) => (typeof l.remote_addr === 'string' ? [l.remote_addr] : [])))];
  return { jids: sessions.map((s) => s.jid), addresses: [...addresses, '127.0.0.1'], connIds };
}

const N = 5; // messages each way
const BIG_BODY = 'b'.repeat(5000); // one element between 4 KiB and 16 KiB: a known histogram bucket

let prosody: ProsodyInstance;
let main: Instance;
let refusing: Instance;
const sessions: RawSession[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  prosody = await startProsody();
  main = await startInstance(prosody.c2sPort);
  refusing = await startInstance(await closedPort());
});
afterAll(async () => {
  for (const s of sessions) if (!s.isClosed) s.terminate();
  for (const c of clients) c.ws.terminate();
  await main?.single.stop();
  await refusing?.single.stop();
  await prosody?.stop();
});

const messageXml = (to: string, id: string, body: string): string =>
  `<message xmlns="${NS_CLIENT}" type="chat" to="${escapeAttr(to)}" id="${id}"><body>${escapeText(body)}</body></message>`;
const fromPeer = (peer: RawSession) => (el: XmlElement): boolean => is.message(el) && el.attrs.from === peer.jid;

describe('/metrics through a real session lifecycle', () => {
  it('exports build info, pre-created label sets and the unprefixed default metrics', async () => {
    const e = await scrape(main.single);
    expect(e.types.get('xmppgw_build_info')).toBe('gauge');
    expect(matching(e, 'xmppgw_build_info')).toEqual([{ name: 'xmppgw_build_info', labels: { version: VERSION, node_version: process.version }, value: 1 }]);
    // Known label sets exist from the first scrape, at zero (rate() and dashboards see them at once).
    expect(value(e, 'xmppgw_upstream_connect_duration_seconds_count', { result: 'refused' })).toBe(0);
    expect(value(e, 'xmppgw_stream_errors_total', { condition: 'not-well-formed', origin: 'client' })).toBe(0);
    for (const state of SESSION_STATES) expect(value(e, 'xmppgw_connections', { state })).toBe(0);
    // Node's defaults, unprefixed so community dashboards work.
    expect(e.types.get('process_cpu_seconds_total')).toBe('counter');
    expect(value(e, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(e.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(value(e, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(e.samples.filter((s) => /^xmppgw_(process|nodejs)_/.test(s.name))).toEqual([]);
    // Every gateway metric is declared with a TYPE.
    const families = new Set(e.samples.filter((s) => s.name.startsWith('xmppgw_')).map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    for (const f of families) expect({ family: f, declared: e.types.has(f) }).toEqual({ family: f, declared: true });
  });

  it('logins, messages both ways, a not-well-formed message and a client that never opens move the right series', async () => {
    const [alice, bob] = prosody.accounts as [(typeof prosody.accounts)[0], (typeof prosody.accounts)[0]];
    const before = await scrape(main.single);
    const delta = (after: Exposition, name: string, labels: Record<string, string> = {}): number => total(after, name, labels) - total(before, name, labels);

    // A client that connects and never sends <open/>: awaiting_open.
    const silent = await TestClient.open(main.url);
    clients.push(silent);
    const a = await login(main.url, { username: alice.username, password: alice.password, domain: prosody.domain, mechanism: 'PLAIN', resource: 'metrics' });
    sessions.push(a);
    const b = await login(main.url, { username: bob.username, password: bob.password, domain: prosody.domain, mechanism: 'PLAIN', resource: 'metrics' });
    sessions.push(b);

    const open = await scrape(main.single);
    expect(value(open, 'xmppgw_connections', { state: 'open' })).toBe(2);
    expect(value(open, 'xmppgw_connections', { state: 'awaiting_open' })).toBe(1);
    expect(value(open, 'xmppgw_connections', { state: 'connecting' })).toBe(0);
    expect(value(open, 'xmppgw_connections', { state: 'closing' })).toBe(0);
    assertNoIdentities(open, identitiesIn(main, sessions));

    // Messages both ways, then one big one; each side waits until all arrived.
    const sentXml: string[] = [];
    const sendTo = (from: RawSession, to: RawSession, id: string, body: string): void => {
      const xml = messageXml(to.jid, id, body);
      sentXml.push(xml);
      from.send(xml);
    };
    for (let k = 0; k < N; k++) sendTo(a, b, `a${k}`, `hello ${k} from alice ✓`);
    for (let k = 0; k < N; k++) sendTo(b, a, `b${k}`, `hello ${k} from bob ✓`);
    sendTo(a, b, 'big', BIG_BODY);
    const toBob = await b.waitForCount(fromPeer(a), N + 1, 'messages from alice');
    const toAlice = await a.waitForCount(fromPeer(b), N, 'messages from bob');
    expect(toBob.map((m) => m.attrs.id)).toEqual([...Array.from({ length: N }, (_, k) => `a${k}`), 'big']);
    expect(toAlice.map((m) => m.attrs.id)).toEqual(Array.from({ length: N }, (_, k) => `b${k}`));
    const receivedBodyBytes = [...toBob, ...toAlice].reduce((n, m) => n + Buffer.byteLength(m.getChildText('body') ?? ''), 0);

    // A session that sends a not-well-formed message after its stream is open.
    const bad = await TestClient.open(main.url);
    clients.push(bad);
    bad.send(openXml(prosody.domain));
    await bad.waitForMatch(/features/, 10_000);
    const badXml = `<message xmlns="${NS_CLIENT}" to="${escapeAttr(b.jid)}"><body>oops</b></message>`;
    bad.send(badXml);
    expect((await bad.closed).code).toBe(1000);
    expect(bad.messages.some((m) => m.includes('<not-well-formed'))).toBe(true);

    // Everyone leaves: two logouts, and the silent client closes its WebSocket (code 1000).
    expect(await a.close()).toBe(1000);
    expect(await b.close()).toBe(1000);
    silent.ws.close(1000);
    await silent.closed;
    await waitUntil(() => main.single.gateway.sessionCount === 0, 'every session gone', 10_000);
    const after = await scrape(main.single);

    // Gauges back to zero.
    for (const state of SESSION_STATES) expect({ state, n: value(after, 'xmppgw_connections', { state }) }).toEqual({ state, n: 0 });

    // Handshakes and upstream connections: four WebSockets, three of which opened a stream.
    expect(delta(after, 'xmppgw_ws_handshakes_total', { result: 'accepted' })).toBe(4);
    expect(delta(after, 'xmppgw_ws_handshakes_total')).toBe(4);
    expect(delta(after, 'xmppgw_upstream_connect_duration_seconds_count', { result: 'ok' })).toBe(3);
    expect(delta(after, 'xmppgw_upstream_connect_duration_seconds_count', { result: 'refused' })).toBe(0);
    expect(delta(after, 'xmppgw_upstream_connect_duration_seconds_sum', { result: 'ok' })).toBeGreaterThan(0);
    // Stream opens answered by the server: login + restart after SASL for each user, one for `bad`.
    expect(delta(after, 'xmppgw_stream_open_latency_seconds_count')).toBe(5);
    expect(delta(after, 'xmppgw_sessions_total', { framing: 'rfc7395' })).toBe(3);
    expect(delta(after, 'xmppgw_sessions_total')).toBe(3);

    // Elements: exactly the messages sent, in both directions; the not-well-formed one never counted.
    expect(delta(after, 'xmppgw_elements_total', { direction: 'c2s', kind: 'message' })).toBe(2 * N + 1);
    expect(delta(after, 'xmppgw_elements_total', { direction: 's2c', kind: 'message' })).toBe(2 * N + 1);
    expect(delta(after, 'xmppgw_elements_total', { direction: 'c2s', kind: 'iq' })).toBeGreaterThanOrEqual(2); // the binds
    expect(delta(after, 'xmppgw_elements_total', { direction: 's2c', kind: 'iq' })).toBeGreaterThanOrEqual(2);
    expect(delta(after, 'xmppgw_elements_total', { direction: 'c2s', kind: 'other' })).toBeGreaterThanOrEqual(2); // the SASL <auth/>s
    // One relay latency and one size observation per relayed element.
    for (const direction of ['c2s', 's2c']) {
      const elements = delta(after, 'xmppgw_elements_total', { direction });
      expect({ direction, relay: delta(after, 'xmppgw_relay_latency_seconds_count', { direction }) }).toEqual({ direction, relay: elements });
      expect({ direction, sizes: delta(after, 'xmppgw_element_size_bytes_count', { direction }) }).toEqual({ direction, sizes: elements });
      // Only the big message lies between 4 KiB and 16 KiB.
      const inBucket = delta(after, 'xmppgw_element_size_bytes_bucket', { direction, le: '16384' }) - delta(after, 'xmppgw_element_size_bytes_bucket', { direction, le: '4096' });
      expect({ direction, inBucket }).toEqual({ direction, inBucket: 1 });
    }
    const sentBytes = sentXml.reduce((n, x) => n + Buffer.byteLength(x), 0);
    expect(delta(after, 'xmppgw_element_size_bytes_sum', { direction: 'c2s' })).toBeGreaterThanOrEqual(sentBytes);
    expect(delta(after, 'xmppgw_transferred_bytes_total', { direction: 'c2s' })).toBeGreaterThanOrEqual(sentBytes + Buffer.byteLength(badXml));
    expect(delta(after, 'xmppgw_transferred_bytes_total', { direction: 's2c' })).toBeGreaterThanOrEqual(receivedBodyBytes);

    // Errors and endings.
    expect(delta(after, 'xmppgw_stream_errors_total', { condition: 'not-well-formed', origin: 'client' })).toBe(1);
    expect(delta(after, 'xmppgw_stream_errors_total')).toBe(1);
    expect(delta(after, 'xmppgw_ws_closes_total', { code: '1000' })).toBe(4);
    expect(delta(after, 'xmppgw_ws_closes_total')).toBe(4);
    expect(delta(after, 'xmppgw_session_duration_seconds_count', { reason: 'client_closed' })).toBe(2);
    expect(delta(after, 'xmppgw_session_duration_seconds_count', { reason: 'client_not_well_formed' })).toBe(1);
    expect(delta(after, 'xmppgw_session_duration_seconds_count', { reason: 'client_gone' })).toBe(1);
    expect(delta(after, 'xmppgw_session_duration_seconds_count')).toBe(4);
    expect(delta(after, 'xmppgw_backpressure_pauses_total')).toBe(0);

    assertNoIdentities(after, identitiesIn(main, sessions));
  });

  it('a gateway whose upstream port is closed counts the refusal, the stream error and the ending', async () => {
    const mainBefore = await scrape(main.single);
    const before = await scrape(refusing.single);
    const c = await TestClient.open(refusing.url);
    clients.push(c);
    c.send(openXml(prosody.domain));
    expect((await c.closed).code).toBe(1000);
    expect(c.messages.some((m) => m.includes('<remote-connection-failed'))).toBe(true);
    await waitUntil(() => refusing.single.gateway.sessionCount === 0, 'the session gone', 5000);
    const after = await scrape(refusing.single);
    const delta = (name: string, labels: Record<string, string> = {}): number => total(after, name, labels) - total(before, name, labels);

    expect(delta('xmppgw_ws_handshakes_total', { result: 'accepted' })).toBe(1);
    expect(delta('xmppgw_upstream_connect_duration_seconds_count', { result: 'refused' })).toBe(1);
    expect(delta('xmppgw_upstream_connect_duration_seconds_count', { result: 'ok' })).toBe(0);
    expect(delta('xmppgw_upstream_connect_duration_seconds_count')).toBe(1);
    expect(delta('xmppgw_stream_errors_total', { condition: 'remote-connection-failed', origin: 'gateway' })).toBe(1);
    expect(delta('xmppgw_session_duration_seconds_count', { reason: 'upstream_connect_failed' })).toBe(1);
    expect(delta('xmppgw_stream_open_latency_seconds_count')).toBe(0);
    expect(delta('xmppgw_sessions_total', { framing: 'rfc7395' })).toBe(1);
    expect(delta('xmppgw_elements_total')).toBe(0);
    expect(delta('xmppgw_ws_closes_total', { code: '1000' })).toBe(1);
    for (const state of SESSION_STATES) expect(value(after, 'xmppgw_connections', { state })).toBe(0);
    // Each gateway has its own registry: the main one saw no refusal.
    expect(value(await scrape(main.single), 'xmppgw_upstream_connect_duration_seconds_count', { result: 'refused' })).toBe(
      value(mainBefore, 'xmppgw_upstream_connect_duration_seconds_count', { result: 'refused' }),
    );
    assertNoIdentities(after, identitiesIn(refusing, []));
  });
});
