/**
 * deploy/nginx/xmpp-websocket.conf, as shipped (only ports, paths and certificate substituted):
 * `nginx -t` accepts it, and a client logs in to a real Prosody over wss:// through nginx and the
 * gateway, with the demo's own try-client.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { tryGateway } from '../../tools/demo/try-client';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { freePort } from '../helpers/net';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => {
  try {
    execFileSync(p, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});


describe('behind nginx (deploy/nginx/xmpp-websocket.conf)', () => {
  let dir: string;
  let prosody: ProsodyInstance;
  let gw: RunningGateway;
  let nginx: ChildProcess | null = null;
  let port: number;

  beforeAll(async () => {
    if (NGINX === undefined) throw new Error('nginx is not installed: run `npm run test:deps` (installs Debian nginx-light)');
    dir = mkdtempSync(join(tmpdir(), 'xmppgw-nginx-'));
    chmodSync(dir, 0o755);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    prosody = await startProsody();
    gw = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort } });
    port = await freePort();
    const shipped = readFileSync(join(__dirname, '..', '..', 'deploy', 'nginx', 'xmpp-websocket.conf'), 'utf8');
    const server = shipped
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`)
      .replace('listen [::]:443 ssl;', '')
      .replace('/etc/ssl/certs/chat.example.org.pem', join(dir, 'cert.pem'))
      .replace('/etc/ssl/private/chat.example.org.key', join(dir, 'key.pem'))
      .replace('/var/www/converse', dir)
      .replace('http://127.0.0.1:5280', `http://127.0.0.1:${gw.port}`)
      .replace('server 127.0.0.1:5280;', `server 127.0.0.1:${gw.port};`);
    expect(server).not.toMatch(/:443(?!\d)|:5280(?!\d)|example\.org\.(pem|key)/);
    writeFileSync(join(dir, 'nginx.conf'), [
      'worker_processes 1;', `pid ${join(dir, 'nginx.pid')};`, `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {', '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`),
      server, '}',
    ].join('\n'));
    execFileSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'pipe' });
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`nginx did not start: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once('exit', r));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await gw?.close();
    await prosody?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes nginx -t and carries a full login over wss://', async () => {
    const [alice] = prosody.accounts;
    const lines: string[] = [];
    await tryGateway(`wss://localhost:${port}/xmpp-websocket`, alice!.jid, alice!.password, (l) => lines.push(l), { rejectUnauthorized: false });
    expect(lines[lines.length - 1]).toMatch(/^OK: logged in as alice@localhost\/try/);
    expect(lines.some((l) => l.includes('Hello through the gateway'))).toBe(true);
    // The password never appears in what the try-client prints.
    expect(lines.join('\n')).not.toContain(Buffer.from(`\0alice\0${alice!.password}`).toString('base64'));
  });
});
