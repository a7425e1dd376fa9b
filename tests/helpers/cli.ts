/**
 * The command line as users run it (`node bin/xmpp-ws-gateway.js …`) as a child process, with its
 * JSON log lines parsed as they arrive, for tests of whole-process behaviour (drain, cluster).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitUntil } from './raw-xmpp';
import { httpGet } from './net';

export { httpGet };

export const BIN = join(__dirname, '..', '..', 'bin', 'xmpp-ws-gateway.js');
const STEP_MS = 10_000;

export type LogLine = Record<string, unknown> & { level: number; time: number; msg: string; event?: string; worker?: number; pid?: number };

export class CliGateway {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  /** stdout lines that are not JSON objects (there should be none). */
  readonly junk: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  private partial = '';

  constructor(args: string[]) {
    // NODE_OPTIONS passes through (e.g. a --require for coverage); it also reaches the workers.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    if (process.env.NODE_OPTIONS) env.NODE_OPTIONS = process.env.NODE_OPTIONS;
    this.child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) {
        if (line.trim() === '') continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.junk.push(line);
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  }

  events(event: string): LogLine[] {
    return this.logs.filter((l) => l.event === event);
  }

  /** Waits until `count` lines with `event` (and matching `pred`) have been logged; returns them. */
  async waitForEvents(event: string, count = 1, timeoutMs = STEP_MS, pred: (l: LogLine) => boolean = () => true): Promise<LogLine[]> {
    const matching = (): LogLine[] => this.events(event).filter(pred);
    await waitUntil(() => matching().length >= count || this.child.exitCode !== null, `${count} "${event}" log line(s)`, timeoutMs);
    const found = matching();
    if (found.length < count) throw new Error(`process exited with ${count} "${event}" line(s) missing; stderr: ${this.stderr}\nlogs:\n${this.describe()}`);
    return found;
  }

  describe(): string {
    return this.logs.map((l) => JSON.stringify(l)).join('\n');
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Cleanup: SIGKILL if still running (its workers follow when the IPC channel closes). */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }
}


/** Polls `/readyz` until it answers `status`; returns the body. */
export async function waitForReadyz(ops: string, status = 200, timeoutMs = STEP_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await httpGet(`${ops}/readyz`, 3000).catch((err: Error) => ({ status: 0, body: err.message }));
    if (r.status === status) return r.body;
    last = `${r.status} ${r.body}`;
    if (Date.now() > deadline) throw new Error(`/readyz not ${status} after ${timeoutMs} ms: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts the CLI on random ports and waits until it serves and is ready; returns it with its URLs. */
export async function startCli(upstreamPort: number, extra: string[], workers: number): Promise<{ cli: CliGateway; url: string; ops: string }> {
  const cli = new CliGateway([
    '--listen', '127.0.0.1:0',
    '--metrics-listen', '127.0.0.1:0',
    '--upstream', `127.0.0.1:${upstreamPort}`,
    '--workers', String(workers),
    '--log-level', 'debug',
    ...extra,
  ]);
  try {
    const [ops] = await cli.waitForEvents('ops_listening');
    const listening = await cli.waitForEvents('listening', workers);
    if (workers > 1) await cli.waitForEvents('cluster_ready');
    const url = `ws://127.0.0.1:${String(listening[0]!.port)}/xmpp-websocket`;
    const opsUrl = `http://127.0.0.1:${String(ops!.port)}`;
    await waitForReadyz(opsUrl);
    return { cli, url, ops: opsUrl };
  } catch (err) {
    await cli.kill();
    throw err;
  }
}
