/**
 * A private nginx for the e2e tests: its own prefix dir, pid, logs and temp paths, listening only on
 * the 127.0.0.1 ports the caller's configuration names, stopped by PID.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { waitForPort } from './net';
import { join } from 'node:path';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => {
  try {
    execFileSync(p, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

/** A self-signed certificate for `localhost`, made with openssl at test setup. */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

/** Main-context lines (pid, error log, events) for a private nginx in `dir`. */
export function mainPrelude(dir: string): string {
  return [`pid ${join(dir, 'nginx.pid')};`, `error_log ${join(dir, 'error.log')} warn;`, 'events { worker_connections 256; }'].join('\n');
}

/**
 * http-context lines: what Debian's stock /etc/nginx/nginx.conf puts around every site (the MIME
 * types: Converse 14 is an ES module, which browsers refuse as text/plain), plus every temp file and
 * the access log inside `dir`.
 */
export function httpPrelude(dir: string): string {
  return ['include /etc/nginx/mime.types;', 'default_type application/octet-stream;', 'access_log off;', ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`)].join('\n');
}

export interface RunningNginx {
  readonly configFile: string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** Writes `config` as dir/nginx.conf, checks it with `nginx -t`, runs it, waits until `ports` accept. */
export async function startNginx(dir: string, config: string, ports: readonly number[]): Promise<RunningNginx> {
  if (NGINX === undefined) throw new Error('nginx is not installed: run `npm run test:deps` (installs Debian nginx-light)');
  const configFile = join(dir, 'nginx.conf');
  writeFileSync(configFile, config);
  try {
    execFileSync(NGINX, ['-t', '-p', dir, '-c', configFile], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`nginx -t refused the configuration:\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}\n---\n${config}`);
  }
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', configFile, '-g', 'daemon off;'], { stdio: 'ignore' });
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 10_000;
  try {
    for (const port of ports) await waitForPort(port, errorLog, { deadline, exited: () => child.exitCode !== null });
  } catch {
    child.kill('SIGKILL');
    throw new Error(`nginx did not start: ${errorLog()}`);
  }
  return {
    configFile,
    errorLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await exited;
    },
  };
}
