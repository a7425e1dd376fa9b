/**
 * Logs: JSON lines with the fixed fields, a per-connection child logger, the session events; and,
 * above all, no credential in any line at any level, `trace` included, while other XML is traced.
 *
 * The credential tests put a recording TCP proxy between the gateway and Prosody, so they know the
 * exact SASL payloads that went over the wire (PLAIN from the raw client, SCRAM-SHA-1 from the
 * `stanza` library) and can look for each of them, encoded and decoded, in every captured log line:
 * from the in-process gateway (the product's own logger) and from the real CLI's stdout and stderr.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { join } from 'node:path';
import { createLogger, REDACT_PATHS } from '../../src/logger';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { is, login, waitUntil, type RawSession, type XmlElement } from '../helpers/raw-xmpp';
import { describeDriverResult, runDriver } from '../helpers/run-driver';
import { TestClient } from '../helpers/ws-client';

const BIN = join(__dirname, '..', '..', 'bin', 'xmpp-ws-gateway.js');
const VERSION = (require('../../package.json') as { version: string }).version;
const STEP_MS = 10_000;
/** Known passwords; none contains "password", which the trace redaction would hide for another reason. */
const PASSWORDS = { alice: 'Tr4ce-Al1ce-k9Qz!x', bob: 'Tr4ce-B0b-m3Wv#y' } as const;
const plainInitial = (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64');

// ---------------------------------------------------------------- a recording c2s proxy

/**
 * Forwards TCP to `target` and keeps every byte of each connection, per direction, so the tests
 * can read back the SASL exchange exactly as the gateway and Prosody spoke it.
 */
class RecordingProxy {
  readonly conversations: Array<{ c2s: string; s2c: string }> = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  static async start(targetPort: number): Promise<RecordingProxy> {
    const server = net.createServer();
    const proxy = new RecordingProxy(server);
    server.on('connection', (client) => {
      const conv = { c2s: '', s2c: '' };
      proxy.conversations.push(conv);
      const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => proxy.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d: Buffer) => (conv.c2s += d.toString('utf8')));
      upstream.on('data', (d: Buffer) => (conv.s2c += d.toString('utf8')));
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Text content of every `<auth>`, `<challenge>`, `<response>`, `<success>` seen, by element name. */
  saslPayloads(): Record<'auth' | 'challenge' | 'response' | 'success', string[]> {
    const out = { auth: [] as string[], challenge: [] as string[], response: [] as string[], success: [] as string[] };
    const re = /<(auth|challenge|response|success)\b[^>]*>([^<]*)<\/\1>/g;
    for (const conv of this.conversations) {
      for (const text of [conv.c2s, conv.s2c]) {
        for (const m of text.matchAll(re)) out[m[1] as keyof typeof out].push(m[2]!.trim());
      }
    }
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Everything of a SASL exchange that must never reach a log: each payload as sent (base64), decoded,
 * and the SCRAM attributes inside it (client proof `p`, server signature `v`, salt `s`, nonce `r`).
 */
function saslSecrets(payloads: ReturnType<RecordingProxy['saslPayloads']>): string[] {
  const secrets = new Set<string>();
  for (const b64 of Object.values(payloads).flat()) {
    if (b64.length < 8) continue;
    secrets.add(b64);
    const decoded = Buffer.from(b64, 'base64').toString('utf8');
    secrets.add(decoded);
    for (const m of decoded.matchAll(/(?:^|,)([prsv])=([^,]+)/g)) if (m[2]!.length >= 8) secrets.add(m[2]!);
  }
  return [...secrets];
}

/** Each (secret, line) pair where a secret appears in a log line, for a readable failure. */
function leaks(lines: readonly string[], secrets: readonly string[]): string[] {
  const found: string[] = [];
  for (const secret of secrets) {
    for (const line of lines) if (line.includes(secret)) found.push(`${JSON.stringify(secret)} in ${line.slice(0, 400)}`);
  }
  return found;
}

/**
 * Every mention of a SASL element in the log lines, each of which must be the redacted form
 * `<name> [N bytes redacted: credentials]` and nothing more. Returns the element names seen.
 */
function saslMentions(lines: readonly string[]): { names: string[]; unredacted: string[] } {
  const names: string[] = [];
  const unredacted: string[] = [];
  const mention = /<(?:[\w.-]+:)?(auth|response|challenge|success)\b/g;
  for (const line of lines) {
    for (const m of line.matchAll(mention)) {
      const rest = line.slice(m.index);
      if (/^<[\w.:-]+> \[\d+ bytes redacted: credentials\]"/.test(rest)) names.push(m[1]!);
      else unredacted.push(line.slice(0, 400));
    }
  }
  return { names, unredacted };
}

const chat = (to: string, body: string): string =>
  `<message xmlns="jabber:client" type="chat" to="${to}" id="m-${randomBytes(4).toString('hex')}"><body>${body}</body></message>`;
const hasBody = (body: string) => (el: XmlElement): boolean => is.message(el) && el.getChildText('body') === body;

type LogLine = Record<string, unknown>;

/** The fields every line carries (pino's plus the root logger's base). */
function expectBaseFields(line: LogLine): void {
  expect(line).toMatchObject({
    level: expect.any(Number),
    time: expect.any(Number),
    msg: expect.any(String),
    service: 'xmpp-ws-gateway',
    version: VERSION,
    event: expect.any(String),
  });
}

describe('logging', () => {
  let prosody: ProsodyInstance;
  let proxy: RecordingProxy;
  const sessions: RawSession[] = [];

  beforeAll(async () => {
    prosody = await startProsody({ accounts: (['alice', 'bob'] as const).map((username) => ({ username, password: PASSWORDS[username] })) });
    proxy = await RecordingProxy.start(prosody.c2sPort);
  });
  afterEach(() => {
    for (const s of sessions.splice(0)) s.terminate();
  });
  afterAll(async () => {
    await proxy?.close();
    await prosody?.stop();
  });

  /** Raw PLAIN login as alice, one message to herself (traced), then `<close/>`. Returns the body sent. */
  const plainSession = async (url: string): Promise<string> => {
    const s = await login(url, { domain: prosody.domain, username: 'alice', password: PASSWORDS.alice, mechanism: 'PLAIN' });
    sessions.push(s);
    const body = `trace-visible-${randomBytes(4).toString('hex')}`;
    s.send(chat(s.jid, body));
    await s.waitFor(hasBody(body), 'the message back', STEP_MS);
    expect(await s.close(STEP_MS)).toBe(1000);
    return body;
  };

  const scramScenario = async (url: string): Promise<void> => {
    const result = await runDriver('stanza', { url, domain: prosody.domain, accounts: prosody.accounts, mechanism: 'SCRAM-SHA-1' });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expect(result.report!.mechanismsUsed).toEqual(['SCRAM-SHA-1', 'SCRAM-SHA-1']);
  };

  /** The credential checks, on whatever lines a gateway wrote while `plainSession` and `scramScenario` ran. */
  const expectNoCredentials = (lines: readonly string[], tracedBody: string): void => {
    // The wire held what we look for: alice's PLAIN, and two SCRAM-SHA-1 exchanges (client-first,
    // server-first, client-final, server-final each).
    const payloads = proxy.saslPayloads();
    expect(payloads.auth).toContain(plainInitial('alice', PASSWORDS.alice));
    expect(payloads.response.map((p) => Buffer.from(p, 'base64').toString('utf8'))).toEqual(expect.arrayContaining([expect.stringMatching(/^c=biws,r=[^,]+,p=.+/)]));
    expect(payloads.success.map((p) => Buffer.from(p, 'base64').toString('utf8'))).toEqual(expect.arrayContaining([expect.stringMatching(/^v=.+/)]));

    const secrets = [...Object.values(PASSWORDS), plainInitial('alice', PASSWORDS.alice), plainInitial('bob', PASSWORDS.bob), ...saslSecrets(payloads)];
    expect(leaks(lines, secrets)).toEqual([]);

    // The SASL elements were traced, as their name and size only.
    const { names, unredacted } = saslMentions(lines);
    expect(unredacted).toEqual([]);
    expect(new Set(names)).toEqual(new Set(['auth', 'challenge', 'response', 'success']));

    // Other elements are traced in full: the message both ways, with its body.
    const traced = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine).filter((l) => l.level === 10);
    expect(traced.some((l) => l.event === 'xml_in' && String(l.xml).startsWith('<message') && String(l.xml).includes(tracedBody))).toBe(true);
    expect(traced.some((l) => l.event === 'xml_out' && String(l.xml).startsWith('<message') && String(l.xml).includes(tracedBody))).toBe(true);
  };

  it('in process at trace: no password, PLAIN or SCRAM payload in any line; other XML is traced', async () => {
    const gw: RunningGateway = await startGateway({ logLevel: 'trace', upstream: { host: '127.0.0.1', port: proxy.port } });
    try {
      const conversationsBefore = proxy.conversations.length;
      const body = await plainSession(gw.url);
      await scramScenario(gw.url);
      expect(proxy.conversations.length - conversationsBefore).toBe(3);
      await waitUntil(() => gw.gateway.sessionCount === 0, 'every session to end', STEP_MS);
      expectNoCredentials(gw.rawLogs, body);
    } finally {
      await gw.close();
    }
  });

  it('the CLI at --log-level trace: the same, over everything it writes to stdout and stderr; every stdout line is JSON', async () => {
    const child = spawn(
      process.execPath,
      [BIN, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--workers', '1', '--log-level', 'trace', '--upstream', `127.0.0.1:${proxy.port}`],
      { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => stdout.includes('"event":"listening"') || child.exitCode !== null, 'the CLI to listen', STEP_MS);
      const listening = JSON.parse(stdout.split('\n').find((l) => l.includes('"event":"listening"'))!) as LogLine;
      const url = `ws://127.0.0.1:${String(listening.port)}/xmpp-websocket`;
      const body = await plainSession(url);
      await scramScenario(url);
      await waitUntil(() => (stdout.match(/"event":"session_closed"/g) ?? []).length >= 3, 'three session_closed lines', STEP_MS);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);

      const lines = stdout.split('\n').filter((l) => l !== '');
      for (const line of lines) expectBaseFields(JSON.parse(line) as LogLine);
      expect(stderr).toBe('');
      expectNoCredentials([...lines, ...stderr.split('\n').filter((l) => l !== '')], body);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  it('JSON lines: base fields everywhere; per-connection conn_id and remote_addr; connection_opened, upstream_connected, session_closed with duration and bytes', async () => {
    const gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort } });
    const sent = jest.spyOn(TestClient.prototype, 'send');
    try {
      const started = Date.now();
      const s = await login(gw.url, { domain: prosody.domain, username: 'bob', password: PASSWORDS.bob, mechanism: 'PLAIN' });
      sessions.push(s);
      const body = `fields-${randomBytes(4).toString('hex')}`;
      s.send(chat(s.jid, body));
      await s.waitFor(hasBody(body), 'the message back', STEP_MS);
      expect(await s.close(STEP_MS)).toBe(1000);
      const wallSeconds = (Date.now() - started) / 1000;
      await waitUntil(() => gw.logs.some((l) => l.event === 'session_closed'), 'session_closed', STEP_MS);

      for (const line of gw.rawLogs) {
        expect(line.endsWith('\n')).toBe(true);
        expect(line.trimEnd()).not.toContain('\n');
        expectBaseFields(JSON.parse(line) as LogLine);
      }
      const opened = gw.logs.filter((l) => l.event === 'connection_opened');
      expect(opened).toHaveLength(1);
      const connId = opened[0]!.conn_id;
      expect(connId).toEqual(expect.any(String));
      const ofConn = gw.logs.filter((l) => l.conn_id === connId);
      // Every line the session writes comes from its child logger.
      for (const l of gw.logs.filter((x) => x.event !== 'listening')) expect(l).toMatchObject({ conn_id: connId, remote_addr: '127.0.0.1' });
      const byEvent = (event: string): LogLine => {
        const found = ofConn.filter((l) => l.event === event);
        expect(found).toHaveLength(1);
        return found[0]!;
      };
      expect(byEvent('connection_opened').level).toBe(20);
      expect(byEvent('upstream_connected').level).toBe(20);
      const closed = byEvent('session_closed');
      expect(closed).toMatchObject({ level: 30, reason: 'client_closed', origin: 'client', ws_close_code: 1000 });
      expect(closed.duration_s).toBeGreaterThan(0);
      expect(closed.duration_s).toBeLessThanOrEqual(wallSeconds);
      // bytes_in: every WebSocket payload byte the client sent, <close/> included.
      const bytesSent = sent.mock.calls.reduce((n, [xml]) => n + Buffer.byteLength(xml), 0);
      expect(closed.bytes_in).toBe(bytesSent);
      // bytes_out: every byte the client received; the gateway's own teardown <close/> may be left out.
      const received = s.received.map((r) => Buffer.byteLength(r.raw));
      const total = received.reduce((a, b) => a + b, 0);
      expect(closed.bytes_out).toBeLessThanOrEqual(total);
      expect(closed.bytes_out).toBeGreaterThanOrEqual(total - received[received.length - 1]!);
    } finally {
      sent.mockRestore();
      await gw.close();
    }
  });

  it('request headers carrying credentials are redacted (REDACT_PATHS), the rest kept', () => {
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie']));
    const lines: string[] = [];
    const log = createLogger('info', 'json', { write: (line: string) => void lines.push(line) });
    const headers = () => ({
      host: 'chat.example.org',
      authorization: 'Basic c2VjcmV0LWF1dGg=',
      cookie: 'session=secret-cookie-value',
      'sec-websocket-key': 'c2VjcmV0LXdzLWtleQ==',
    });
    log.info({ event: 'request', req: { method: 'GET', url: '/xmpp-websocket', headers: headers() } }, 'request');
    log.child({ conn_id: 'x1', remote_addr: '203.0.113.9' }).info({ event: 'headers', headers: headers() }, 'headers');
    expect(lines).toHaveLength(2);
    for (const secret of ['c2VjcmV0LWF1dGg=', 'secret-cookie-value']) expect(lines.join('')).not.toContain(secret);
    const [req, hdr] = lines.map((l) => JSON.parse(l) as { req?: { headers: Record<string, string> }; headers?: Record<string, string> });
    expect(req!.req!.headers).toEqual({ host: 'chat.example.org', authorization: '[redacted]', cookie: '[redacted]', 'sec-websocket-key': '[redacted]' });
    expect(hdr!.headers).toMatchObject({ host: 'chat.example.org', authorization: '[redacted]', cookie: '[redacted]' });
  });

  it('--log-format pretty writes human-readable lines, not JSON', async () => {
    const child = spawn(
      process.execPath,
      [BIN, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--workers', '1', '--log-format', 'pretty', '--upstream', `127.0.0.1:${prosody.c2sPort}`],
      { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitUntil(() => /listening on 127\.0\.0\.1:\d+\/xmpp-websocket\n/.test(out) || child.exitCode !== null, 'the pretty listening line', STEP_MS);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening on 127\.0\.0\.1:\d+\/xmpp-websocket$/m);
      expect(out).toMatch(/^ {4}event: "listening"$/m);
      expect(out).toMatch(/INFO: stopped$/m);
      const lines = out.split('\n').filter((l) => l.trim() !== '');
      expect(lines.length).toBeGreaterThan(3);
      for (const line of lines) expect(() => JSON.parse(line)).toThrow();
      // service and version are left out of the pretty form (they are the same on every line).
      expect(out).not.toMatch(/service|xmpp-ws-gateway/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
