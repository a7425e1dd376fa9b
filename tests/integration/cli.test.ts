/**
 * The command line as users run it: `node bin/xmpp-ws-gateway.js …` from a built checkout.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import { TestClient, openXml } from '../helpers/ws-client';
import { FakeServer } from '../helpers/fake-server';
import { httpGet as get, freePorts } from '../helpers/net';

const BIN = join(__dirname, '..', '..', 'bin', 'xmpp-ws-gateway.js');


async function waitForLog(out: () => string, needle: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!out().includes(needle)) {
    if (Date.now() > deadline) throw new Error(`no ${needle} in: ${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 10_000 });
}

describe('xmpp-ws-gateway CLI', () => {
  it('--help lists every option with its environment variable; --version prints the version', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--upstream <value>.*XMPP_WS_GATEWAY_UPSTREAM/);
    const version = run(['--version']);
    expect(version.stdout.trim()).toBe(require('../../package.json').version);
  });

  it.each([
    [['--listen', '127.0.0.1:99999'], /invalid --listen "127.0.0.1:99999": expected HOST:PORT/],
    [['--max-stanza-size', '1'], /invalid --max-stanza-size "1"/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j exits 2 with a message naming the option', (args, message) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('names the environment variable that held the bad value', () => {
    const r = run([], { XMPP_WS_GATEWAY_PING_INTERVAL: 'soon' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/XMPP_WS_GATEWAY_PING_INTERVAL "soon"/);
  });

  it('serves, and on SIGTERM ends sessions with system-shutdown and exits 0', async () => {
    const server = await FakeServer.start();
    const [port, opsPort] = await freePorts(2);
    const child = spawn(process.execPath, [BIN, '--listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${opsPort}`, '--workers', '1', '--drain-timeout', '0', '--upstream-tls', 'none'], {
      env: { PATH: process.env.PATH, XMPP_WS_GATEWAY_UPSTREAM: `127.0.0.1:${server.port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitForLog(() => out, '"event":"ops_listening"');
      const line = JSON.parse(out.split('\n').find((l) => l.includes('"listening"'))!);
      expect(line).toMatchObject({ level: 30, service: 'xmpp-ws-gateway', port, upstream: `127.0.0.1:${server.port}` });
      const c = await TestClient.open(`ws://127.0.0.1:${port}/xmpp-websocket`);
      c.send(openXml());
      await c.waitFor(2);
      expect((await get(`http://127.0.0.1:${opsPort}/readyz`)).status).toBe(200);
      child.kill('SIGTERM');
      const closed = await c.closed;
      expect(closed.code).toBe(1001);
      expect(c.messages[2]).toMatch(/<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);
      expect(c.messages[3]).toBe('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
      expect(await exited).toBe(0);
      await server.connections[0]!.closed;
      // Dropped without </stream:stream>: a XEP-0198 session can resume through another node.
      expect(server.connections[0]!.gotFooter).toBe(false);
      expect(out).toMatch(/"event":"stopped"/);
    } finally {
      child.kill('SIGKILL');
      await server.close();
    }
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const r = run(['--listen', `127.0.0.1:${port}`, '--metrics-listen', 'off']);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    } finally {
      taken.close();
    }
  });
});

describe('open-file limit', () => {
  it('warns at start when --max-connections needs more descriptors than the process may open', async () => {
    const { CliGateway } = await import('../helpers/cli');
    const { openFileLimit } = await import('../../src/util/fd-limit');
    const limit = openFileLimit();
    if (limit === null) throw new Error('cannot read this machine\'s open-file limit from /proc/self/limits');
    const cli = new CliGateway(['--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--workers', '1', '--max-connections', String(limit)]);
    try {
      const [warning] = await cli.waitForEvents('fd_limit_low');
      expect(warning).toMatchObject({ level: 40, open_file_limit: limit, needed: 2 * limit + 64 });
      expect(String(warning!.msg)).toMatch(/raise it \(ulimit -n/);
    } finally {
      await cli.kill();
    }
  });
});
