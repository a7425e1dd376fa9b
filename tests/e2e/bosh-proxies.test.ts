/**
 * BOSH behind the shipped proxy configurations with two gateway replicas: deploy/nginx's `xmpp_bosh`
 * upstream and deploy/haproxy's `xmpp_bosh` backend (only ports, paths and the certificate
 * substituted, and the one server line doubled). Every session must keep reaching the replica that
 * holds it; the same configuration without its affinity line (round robin) breaks sessions, which is
 * what the affinity is for. All traffic stays on 127.0.0.1.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { FakeServer } from '../helpers/fake-server';
import { BoshSessionClient, children } from '../helpers/bosh-client';
import { freePort, waitForPort } from '../helpers/net';
import { stopChild } from '../helpers/processes';

const ROOT = join(__dirname, '..', '..');
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));
const SESSIONS = 12;

let dir: string;
let server: FakeServer;
const replicas: RunningGateway[] = [];

/** One session through the proxy: create, a message echoed by the fake server, terminate. */
async function session(url: string): Promise<'ok' | string> {
  const client = new BoshSessionClient(url);
  try {
    const created = await client.create("wait='2' hold='1' ver='1.6'");
    if (!client.sid) return `no session: ${created.status} ${created.text}`;
    let reply = await client.send("<message xmlns='jabber:client' to='u@localhost'><body>through</body></message>");
    for (let i = 0; !children(reply.body).some((c) => c.getChildText('body') === 'through'); i++) {
      if (reply.body?.attrs.type === 'terminate' || i > 3) return `lost: ${reply.text}`;
      reply = await client.send();
    }
    const bye = await client.send('', "type='terminate'");
    return bye.body?.attrs.type === 'terminate' && bye.body.attrs.condition === undefined ? 'ok' : `terminate answered ${bye.text}`;
  } finally {
    client.close();
  }
}

const runSessions = (url: string): Promise<string[]> => Promise.all(Array.from({ length: SESSIONS }, () => session(url)));

beforeAll(async () => {
  if (NGINX === undefined || HAPROXY === undefined) throw new Error('nginx and haproxy are needed: run `npm run test:deps`');
  dir = mkdtempSync(join(tmpdir(), 'xmppgw-bosh-proxies-'));
  chmodSync(dir, 0o755);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'site.pem'), readFileSync(join(dir, 'cert.pem'), 'utf8') + readFileSync(join(dir, 'key.pem'), 'utf8'));
  server = await FakeServer.start();
  for (let i = 0; i < 2; i++) replicas.push(await startGateway({ upstream: server.upstream }));
}, 30_000);

afterAll(async () => {
  for (const r of replicas.splice(0)) await r.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** BOSH sessions each replica created so far. */
async function created(): Promise<number[]> {
  return Promise.all(replicas.map(async (r) => (await r.gateway.metrics.boshRequests.get()).values.find((v) => v.labels.result === 'created')?.value ?? 0));
}

describe('nginx (deploy/nginx/xmpp-websocket.conf, upstream xmpp_bosh)', () => {
  const shipped = readFileSync(join(ROOT, 'deploy', 'nginx', 'xmpp-websocket.conf'), 'utf8');

  async function withNginx(conf: string, fn: (url: string) => Promise<void>): Promise<void> {
    const port = await freePort();
    const site = conf
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace('listen [::]:443 ssl;', '')
      .replace('/etc/ssl/certs/chat.example.org.pem', join(dir, 'cert.pem'))
      .replace('/etc/ssl/private/chat.example.org.key', join(dir, 'key.pem'))
      .replace('/var/www/converse', dir)
      .replace('http://127.0.0.1:5280', `http://127.0.0.1:${replicas[0]!.port}`)
      .replace('server 127.0.0.1:5280;', replicas.map((r) => `server 127.0.0.1:${r.port};`).join('\n    '));
    expect(site).not.toMatch(/:443(?!\d)|:5280(?!\d)/);
    const prefix = join(dir, `nginx-${port}`);
    execFileSync('mkdir', ['-p', prefix]);
    writeFileSync(join(prefix, 'nginx.conf'), [
      'worker_processes 1;', `pid ${join(prefix, 'nginx.pid')};`, `error_log ${join(prefix, 'error.log')} warn;`,
      'events { worker_connections 512; }', 'http {', '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(prefix, t)};`),
      site, '}',
    ].join('\n'));
    execFileSync(NGINX!, ['-t', '-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'pipe' });
    const nginx = spawn(NGINX!, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    try {
      await waitForPort(port, () => readFileSync(join(prefix, 'error.log'), 'utf8'));
      await fn(`https://127.0.0.1:${port}/http-bind`);
    } finally {
      await stopChild(nginx, 'SIGQUIT', 5000);
    }
  }

  it('passes nginx -t and keeps every BOSH session on its replica', async () => {
    expect(shipped).toMatch(/^\s*hash \$remote_addr consistent;$/m);
    const before = await created();
    await withNginx(shipped, async (url) => {
      expect(await runSessions(url)).toEqual(Array(SESSIONS).fill('ok'));
    });
    const after = await created();
    expect(after[0]! - before[0]! + after[1]! - before[1]!).toBe(SESSIONS);
  }, 60_000);

  it('without the affinity line, requests spread over both replicas and sessions break', async () => {
    await withNginx(shipped.replace(/^\s*hash \$remote_addr consistent;$/m, ''), async (url) => {
      const results = await runSessions(url);
      expect(results.filter((r) => r !== 'ok').length).toBeGreaterThan(0);
    });
  }, 60_000);
});

describe('HAProxy (deploy/haproxy/haproxy.cfg, backend xmpp_bosh)', () => {
  const shipped = readFileSync(join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), 'utf8');

  async function withHaproxy(text: string, fn: (url: string) => Promise<void>): Promise<void> {
    const port = await freePort();
    const boshBackend = /^backend xmpp_bosh[\s\S]*?(?=\nbackend )/m.exec(text)![0];
    const replaced = boshBackend.replace(/^(\s*)server gw1 127\.0\.0\.1:5280 .*$/m, (_l, indent: string) => replicas.map((r, i) => `${indent}server gw${i + 1} 127.0.0.1:${r.port}`).join('\n'));
    let config = text
      .replace(boshBackend, replaced)
      .replace('bind :443 ssl crt /etc/haproxy/certs/chat.example.org.pem', `bind 127.0.0.1:${port} ssl crt ${join(dir, 'site.pem')}`)
      .replace('stats socket /run/haproxy/admin.sock', `stats socket ${join(dir, `haproxy-${port}.sock`)}`)
      .replace('server gw1 127.0.0.1:5280 check port 9464 inter 5s fall 2 rise 2', `server gw1 127.0.0.1:${replicas[0]!.port}`)
      .replace(/^(\s*)maxconn 50000$/m, '$1maxconn 2000');
    if (process.getuid?.() !== 0) config = config.replace(/^\s*(chroot|user|group) .*$/gm, '');
    expect(config.split("\n").filter((l) => !l.trim().startsWith("#")).join("\n")).not.toMatch(/:443(?!\d)|:5280(?!\d)/);
    const cfg = join(dir, `haproxy-${port}.cfg`);
    writeFileSync(cfg, config);
    const check = spawnSync(HAPROXY!, ['-c', '-f', cfg], { encoding: 'utf8', timeout: 10_000 });
    expect(`${check.stdout}${check.stderr}`).toMatch(/Configuration file is valid/);
    let output = '';
    const haproxy = spawn(HAPROXY!, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    haproxy.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitForPort(port, () => output);
      await fn(`https://127.0.0.1:${port}/http-bind`);
    } finally {
      await stopChild(haproxy, 'SIGTERM', 5000);
    }
  }

  it('passes haproxy -c and keeps every BOSH session on its replica; the held-request timeout exceeds --bosh-max-wait', async () => {
    expect(shipped).toMatch(/^backend xmpp_bosh[\s\S]*?balance source[\s\S]*?hash-type consistent/m);
    expect(Number(/^backend xmpp_bosh[\s\S]*?timeout server (\d+)s/m.exec(shipped)![1])).toBeGreaterThan(50);
    await withHaproxy(shipped, async (url) => {
      expect(await runSessions(url)).toEqual(Array(SESSIONS).fill('ok'));
    });
  }, 60_000);

  it('with round robin instead, sessions break', async () => {
    const roundRobin = shipped.replace(/^(backend xmpp_bosh[\s\S]*?)balance source\n\s*hash-type consistent/m, '$1balance roundrobin');
    expect(roundRobin).not.toBe(shipped);
    await withHaproxy(roundRobin, async (url) => {
      const results = await runSessions(url);
      expect(results.filter((r) => r !== 'ok').length).toBeGreaterThan(0);
    });
  }, 60_000);
});
