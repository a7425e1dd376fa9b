/**
 * A private DNS server for the routing tests: Debian's dnsmasq on 127.0.0.1 and a free port, with
 * the SRV and address records a test gives it, authoritative for `.test` only (`--local=/test/`:
 * never forwards a query anywhere), logging every query so tests can count them. Nothing from
 * /etc is read (`-C /dev/null --no-resolv --no-hosts`). Stopped by PID; killed by the kernel if the
 * test process dies first (setpriv --pdeathsig).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net';
import { DnsResolver } from '../../src/upstream/dns';

export interface SrvEntry {
  readonly name: string;
  readonly target: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

export interface DnsmasqInstance {
  readonly port: number;
  /** How many queries of `type` for `name` dnsmasq received so far. */
  queries(name: string, type?: string): number;
  stop(): Promise<void>;
}

export const DNSMASQ = '/usr/sbin/dnsmasq';
/** Answers cached by resolvers for this long (dnsmasq's own default for its records is 0). */
export const RECORD_TTL_S = 60;

export async function startDnsmasq(records: { srv: readonly SrvEntry[]; hosts: readonly { name: string; address: string }[] }): Promise<DnsmasqInstance> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xmppgw-dnsmasq-'));
  const logFile = path.join(dir, 'queries.log');
  const port = await freePort();
  const args = [
    '--keep-in-foreground', '-C', '/dev/null', '--no-resolv', '--no-hosts', '--no-poll', '--pid-file=',
    `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--user=root', '--group=root',
    '--local=/test/', `--local-ttl=${RECORD_TTL_S}`, '--log-queries', `--log-facility=${logFile}`,
    '--host-record=ready.test,127.0.0.1',
    ...records.hosts.map((h) => `--host-record=${h.name},${h.address}`),
    ...records.srv.map((s) => `--srv-host=${s.name},${s.target},${s.port},${s.priority},${s.weight}`),
  ];
  let setpriv = false;
  try {
    setpriv = execFileSync('setpriv', ['--help'], { encoding: 'utf8' }).includes('--pdeathsig');
  } catch {
    setpriv = false;
  }
  const child: ChildProcess = spawn(setpriv ? 'setpriv' : DNSMASQ, setpriv ? ['--pdeathsig', 'KILL', '--', DNSMASQ, ...args] : args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (running()) {
        child.kill('SIGTERM');
        const t = setTimeout(() => running() && child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    })());
  const probe = new DnsResolver({ servers: [{ host: '127.0.0.1', port }], timeoutMs: 500, maxEntries: 1 });
  for (let i = 0; ; i++) {
    const answer = await probe.addresses('ready.test');
    if (answer.ok) break;
    if (!running() || i > 50) {
      await stop();
      throw new Error(`dnsmasq did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    queries(name, type) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      const re = new RegExp(`query\\[${type ?? '[A-Z]+'}\\] ${name.replace(/\./g, '\\.')} from`, 'g');
      return (log.match(re) ?? []).length;
    },
    stop,
  };
}
