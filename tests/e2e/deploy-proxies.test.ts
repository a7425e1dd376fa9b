/**
 * deploy/apache/xmpp-websocket.conf and deploy/haproxy/haproxy.cfg, as shipped (only ports, paths and
 * the certificate substituted), like tests/e2e/nginx.test.ts does for nginx: each passes its
 * own config check (`apache2 -t`, `haproxy -c`), then runs on a random loopback port with a throwaway
 * certificate in front of the gateway and a private Prosody, and a client logs in over wss:// with the
 * demo's try-client. The client connects from 127.0.0.2, so the gateway's log shows whether the proxy
 * passed the client address on in X-Forwarded-For.
 *
 * Apache runs from a self-contained configuration (Debian's apache2.conf needs /etc/apache2/envvars):
 * the modules the shipped file's `a2enmod` line names are loaded the way a2enmod would enable them
 * (Debian's mods-available .load and .conf files, with their `# Depends:`), and the APACHE_* variables
 * those files use are defined to the temporary directory.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSingle, type SingleProcess } from '../../src/cluster';
import { defaultConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { tryGateway } from '../../tools/demo/try-client';
import { freePort, waitForPort } from '../helpers/net';

const ROOT = join(__dirname, '..', '..');
const APACHE = ['/usr/sbin/apache2', '/usr/sbin/httpd'].find((p) => existsSync(p));
const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));
const MODS = '/etc/apache2/mods-available';
const IS_ROOT = process.getuid?.() === 0;
/** The gateway's default --ping-interval, which every proxy timeout must exceed. */
const PING_INTERVAL_S = defaultConfig().pingIntervalMs / 1000;


/** Processes of a process group, other than its leader. */
function groupMembers(pgid: number): number[] {
  const r = spawnSync('ps', ['-e', '-o', 'pid=,pgid='], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/).map(Number)).filter(([pid, group]) => group === pgid && pid !== pgid).map(([pid]) => pid!);
}

/**
 * Stops a server started with `detached: true` (its own process group): `signal` to the server; if it
 * has not exited after 3 s (Apache's parent waits for children still holding a tunnel), SIGKILL to its
 * children so the parent reaps them and exits; finally SIGKILL to whatever is left of the group.
 */
async function stopProcess(child: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (child === null || child.pid === undefined) return;
  const pgid = child.pid;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    const within = (ms: number): Promise<unknown> => Promise.race([exited, new Promise((r) => setTimeout(r, ms))]);
    child.kill(signal);
    await within(3000);
    if (child.exitCode === null && child.signalCode === null) {
      for (const pid of groupMembers(pgid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await within(5000);
    }
  }
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is already gone
  }
}

/** The configuration without its comment lines. */
const uncommented = (text: string): string => text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');

/** Seconds of an Apache/HAProxy duration: `120`, `120s`, `2m`, `500ms`. */
function seconds(raw: string, plainUnit: 's' | 'ms'): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(raw);
  if (m === null) throw new Error(`not a duration: ${raw}`);
  const unit = m[2] ?? plainUnit;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit]!;
}

describe('behind Apache and HAProxy (deploy/apache, deploy/haproxy)', () => {
  let dir: string;
  let prosody: ProsodyInstance;
  let gw: SingleProcess;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    if (APACHE === undefined) throw new Error('Apache is not installed: run `npm run test:deps` (installs Debian apache2)');
    if (HAPROXY === undefined) throw new Error('HAProxy is not installed: run `npm run test:deps` (installs Debian haproxy)');
    dir = mkdtempSync(join(tmpdir(), 'xmppgw-proxies-'));
    chmodSync(dir, 0o755);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    // HAProxy takes certificate and key in one file.
    writeFileSync(join(dir, 'site.pem'), readFileSync(join(dir, 'cert.pem'), 'utf8') + readFileSync(join(dir, 'key.pem'), 'utf8'));
    prosody = await startProsody();
    const log = createLogger('debug', 'json', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    gw = await startSingle(defaultConfig({
      listen: { host: '127.0.0.1', port: 0 },
      metricsListen: { host: '127.0.0.1', port: 0 },
      upstream: { host: '127.0.0.1', port: prosody.c2sPort },
      upstreamProbeIntervalMs: 500,
      drainTimeoutMs: 0,
    }), log);
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    await prosody?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Logs in over wss:// from 127.0.0.2 and returns the client address the gateway logged. */
  async function loginThrough(port: number): Promise<string> {
    const [alice] = prosody.accounts;
    const lines: string[] = [];
    const before = logs.length;
    await tryGateway(`wss://localhost:${port}/xmpp-websocket`, alice!.jid, alice!.password, (l) => lines.push(l), { rejectUnauthorized: false, localAddress: '127.0.0.2' });
    expect(lines[lines.length - 1]).toMatch(/^OK: logged in as alice@localhost\/try/);
    expect(lines.some((l) => l.includes('Hello through the gateway'))).toBe(true);
    const deadline = Date.now() + 5000;
    let closed: Record<string, unknown> | undefined;
    while ((closed = logs.slice(before).find((l) => l.event === 'session_closed')) === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(closed).toBeDefined();
    return String(closed!.remote_addr);
  }

  describe('Apache (deploy/apache/xmpp-websocket.conf)', () => {
    const shipped = readFileSync(join(ROOT, 'deploy', 'apache', 'xmpp-websocket.conf'), 'utf8');
    let apache: ChildProcess | null = null;
    let port: number;
    let conf: string;

    /** The modules `a2enmod <list>` in the shipped file's header enables, with Debian's dependencies. */
    function a2enmod(): string[] {
      const line = /^#\s+a2enmod ([a-z_ ]+)$/m.exec(shipped);
      if (line === null) throw new Error('the shipped file names no `a2enmod` line');
      const order: string[] = [];
      const visit = (mod: string): void => {
        if (order.includes(mod)) return;
        const load = readFileSync(join(MODS, `${mod}.load`), 'utf8');
        for (const dep of /^# Depends: (.*)$/m.exec(load)?.[1]?.trim().split(/\s+/) ?? []) visit(dep);
        order.push(mod);
      };
      for (const mod of line[1]!.trim().split(/\s+/)) visit(mod);
      return order;
    }

    beforeAll(async () => {
      port = await freePort();
      const site = shipped
        .replace('<VirtualHost *:443>', `<VirtualHost 127.0.0.1:${port}>`)
        .replace('/etc/ssl/certs/chat.example.org.pem', join(dir, 'cert.pem'))
        .replace('/etc/ssl/private/chat.example.org.key', join(dir, 'key.pem'))
        .replaceAll('/var/www/converse', dir)
        .replace('http://127.0.0.1:5280/', `http://127.0.0.1:${gw.address.port}/`);
      expect(uncommented(site)).not.toMatch(/:443(?!\d)|:5280(?!\d)|example\.org\.(pem|key)|\/var\/www/);
      writeFileSync(join(dir, 'site.conf'), site);
      const modules = ['mpm_event', 'authz_core', ...a2enmod()];
      conf = join(dir, 'apache2.conf');
      writeFileSync(conf, [
        // What /etc/apache2/envvars would define, pointed at the temp dir.
        ...['RUN_DIR', 'LOCK_DIR', 'LOG_DIR'].map((v) => `Define APACHE_${v} ${dir}`),
        `DefaultRuntimeDir ${dir}`, `PidFile ${join(dir, 'apache2.pid')}`, `ErrorLog ${join(dir, 'apache-error.log')}`,
        'LogLevel warn', `Mutex file:${dir} default`, 'ServerName localhost', `Listen 127.0.0.1:${port}`,
        ...(IS_ROOT ? ['User www-data', 'Group www-data'] : []),
        ...modules.flatMap((m) => [`Include ${join(MODS, `${m}.load`)}`, ...(existsSync(join(MODS, `${m}.conf`)) ? [`Include ${join(MODS, `${m}.conf`)}`] : [])]),
        `Include ${join(dir, 'site.conf')}`,
        '',
      ].join('\n'));
      apache = spawn(APACHE!, ['-d', dir, '-f', conf, '-DFOREGROUND'], { stdio: 'ignore', detached: true });
      await waitForPort(port, () => (existsSync(join(dir, 'apache-error.log')) ? readFileSync(join(dir, 'apache-error.log'), 'utf8') : '(no error log)'));
    }, 30_000);

    afterAll(async () => {
      await stopProcess(apache, 'SIGTERM');
    });

    it('loads only the modules its a2enmod line names (and their dependencies)', () => {
      expect(a2enmod()).toEqual(expect.arrayContaining(['ssl', 'proxy', 'proxy_http', 'headers']));
      expect(a2enmod()).not.toContain('proxy_wstunnel');
    });

    it('passes apache2 -t', () => {
      const r = spawnSync(APACHE!, ['-d', dir, '-f', conf, '-t'], { encoding: 'utf8', timeout: 10_000 });
      expect(`${r.status} ${r.stderr.trim()}`).toBe('0 Syntax OK');
    });

    it('keeps the WebSocket tunnel open longer than the ping interval', () => {
      const timeout = /upgrade=websocket.*\btimeout=(\d+)/.exec(shipped)?.[1];
      expect(timeout).toBeDefined();
      expect(seconds(timeout!, 's')).toBeGreaterThan(PING_INTERVAL_S);
      expect(shipped).toMatch(/^\s*ProxyPreserveHost On$/m);
    });

    it('carries a full login over wss:// and passes the client address on', async () => {
      expect(await loginThrough(port)).toBe('127.0.0.2');
    });
  });

  describe('HAProxy (deploy/haproxy/haproxy.cfg)', () => {
    const shipped = readFileSync(join(ROOT, 'deploy', 'haproxy', 'haproxy.cfg'), 'utf8');
    let haproxy: ChildProcess | null = null;
    let output = '';
    let port: number;
    let cfg: string;

    beforeAll(async () => {
      port = await freePort();
      let config = shipped
        .replace('bind :443 ssl crt /etc/haproxy/certs/chat.example.org.pem', `bind 127.0.0.1:${port} ssl crt ${join(dir, 'site.pem')}`)
        .replace('stats socket /run/haproxy/admin.sock', `stats socket ${join(dir, 'haproxy.sock')}`)
        .replaceAll('server gw1 127.0.0.1:5280 check port 9464', `server gw1 127.0.0.1:${gw.address.port} check port ${gw.opsAddress!.port}`)
        // maxconn 50000 needs about 100 000 file descriptors (fine under systemd's default hard limit);
        // test machines may allow fewer, and a handful of connections is all this run makes.
        .replace(/^(\s*)maxconn 50000$/m, '$1maxconn 2000');
      // chroot and the haproxy user exist after Debian's install; only root can use them.
      if (!IS_ROOT) config = config.replace(/^\s*(chroot|user|group) .*$/gm, '');
      expect(uncommented(config)).not.toMatch(/:443(?!\d)|:5280(?!\d)|port 9464|\/run\/haproxy|example\.org\.pem|maxconn 50000/);
      cfg = join(dir, 'haproxy.cfg');
      writeFileSync(cfg, config);
      haproxy = spawn(HAPROXY!, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      haproxy.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      haproxy.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      await waitForPort(port, () => output);
    }, 30_000);

    afterAll(async () => {
      await stopProcess(haproxy, 'SIGTERM');
    });

    it('passes haproxy -c without warnings', () => {
      const r = spawnSync(HAPROXY!, ['-c', '-f', cfg], { encoding: 'utf8', timeout: 10_000 });
      expect(r.status).toBe(0);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/\[(WARNING|ALERT)\]/);
      expect(r.stdout).toMatch(/Configuration file is valid/);
    });

    it('keeps the WebSocket tunnel open longer than the ping interval, and forwards the client address', () => {
      const timeout = (name: string): number => seconds(new RegExp(`^\\s*timeout ${name} (\\S+)$`, 'm').exec(shipped)![1]!, 'ms');
      expect(timeout('tunnel')).toBeGreaterThan(PING_INTERVAL_S);
      expect(shipped).toMatch(/^\s*option forwardfor$/m);
      expect(shipped).toMatch(/^\s*option httpchk GET \/readyz$/m);
    });

    it('health-checks the gateway on /readyz and sees it UP', async () => {
      const state = async (): Promise<string> => {
        const answer = await new Promise<string>((resolve, reject) => {
          let data = '';
          const s = net.connect(join(dir, 'haproxy.sock'), () => s.end('show stat\n'));
          s.on('data', (d: Buffer) => (data += d.toString()));
          s.on('end', () => resolve(data));
          s.on('error', reject);
        });
        const header = answer.split('\n')[0]!.replace(/^# /, '').split(',');
        const row = answer.split('\n').find((l) => l.startsWith('xmpp_websocket,gw1,'))!.split(',');
        return `${row[header.indexOf('status')]} ${row[header.indexOf('check_status')]} ${row[header.indexOf('check_code')]}`;
      };
      const deadline = Date.now() + 15_000;
      let s = await state();
      while (!/^UP L7OK 200$/.test(s) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        s = await state();
      }
      expect(s).toBe('UP L7OK 200');
    }, 20_000);

    it('carries a full login over wss:// and passes the client address on', async () => {
      expect(await loginThrough(port)).toBe('127.0.0.2');
    });
  });
});
