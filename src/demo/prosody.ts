/**
 * A private, throwaway Prosody 0.12 for `npm run demo` and the integration tests.
 *
 * Each call to {@link startProsody} writes its own config into a fresh temp dir, registers the
 * accounts with `prosodyctl`, runs `prosody -F` in the foreground on 127.0.0.1 only and waits until
 * the c2s port really answers as this XMPP domain. Nothing in /etc/prosody or /var/lib/prosody is
 * read or written, so it can run beside a system Prosody (Debian's package starts one on 5222).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, promises as fsp, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ProsodyAccount {
  username: string;
  /** @defaultValue 16 random base64url characters */
  password?: string;
}

export interface ProsodyOptions {
  /** XMPP domain of the single VirtualHost. @defaultValue `'localhost'` */
  domain?: string;
  /** Accounts to register before start; a missing password is generated. @defaultValue alice and bob */
  accounts?: ProsodyAccount[];
  /** c2s TCP port on 127.0.0.1. @defaultValue a free port */
  c2sPort?: number;
  /** HTTP port on 127.0.0.1 for mod_websocket (the reference endpoint). @defaultValue a free port */
  httpPort?: number;
  /** Minimum level written to `logFile`. @defaultValue `'info'` */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Lua appended to the global section, before the VirtualHost line. */
  extraConfig?: string;
  /** `c2s_require_encryption`. No TLS module is loaded, so `true` only suits WebSocket clients. @defaultValue false */
  requireEncryption?: boolean;
  /**
   * Serve STARTTLS on c2s with this certificate (mod_tls loaded), as a default Prosody does; with
   * `requireEncryption` it is then required, exactly as in Prosody's shipped configuration.
   * @defaultValue none (plaintext c2s)
   */
  tls?: { certFile: string; keyFile: string };
  /**
   * A second VirtualHost, on the same ports, whose only login is SASL ANONYMOUS (mod_auth_anonymous):
   * every login gets a fresh random JID on this domain, so load tests need no registered accounts.
   * Must differ from `domain`. @defaultValue none
   */
  anonymousHost?: string;
  /**
   * Put every account in one shared roster group (mod_groups), so each sees the others' presence
   * without subscribing first, as chat users of one organisation would. @defaultValue false
   */
  sharedRoster?: boolean;
}

export interface ProsodyInstance {
  domain: string;
  c2sPort: number;
  httpPort: number;
  /** Prosody's own RFC 7395 endpoint: `ws://127.0.0.1:<httpPort>/xmpp-websocket`. */
  websocketUrl: string;
  /** Prosody's own BOSH endpoint (mod_bosh, XEP-0206): `http://127.0.0.1:<httpPort>/http-bind`. */
  boshUrl: string;
  accounts: { username: string; password: string; jid: string }[];
  /** The temp dir holding config, data, pidfile and log; removed by `stop()`. */
  dir: string;
  logFile: string;
  /** Idempotent: SIGTERM, SIGKILL after a bound, then removes `dir`. */
  stop(): Promise<void>;
}

/** Thrown by {@link startProsody} when no `prosody`/`prosodyctl` executable can be found. */
export class ProsodyNotInstalledError extends Error {
  constructor() {
    super(
      'Prosody is not installed: no `prosody` and `prosodyctl` executables on PATH. ' +
        'On Debian/Ubuntu install it with: sudo apt-get update && sudo apt-get install -y prosody',
    );
    this.name = 'ProsodyNotInstalledError';
  }
}

const READY_TIMEOUT_MS = 15_000;
const PROBE_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;
const PROSODYCTL_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;
const OUTPUT_TAIL_BYTES = 8 * 1024;
const LOG_TAIL_LINES = 40;
const WEBSOCKET_PATH = '/xmpp-websocket';
/** portmanager's message when a listener cannot bind (Prosody 0.12 core/portmanager.lua). */
const PORT_IN_USE = /Failed to open server port (\d+) on [^,\s]+/;
/** How often to pick fresh ports when one we picked was taken before Prosody could bind it. */
const PORT_ATTEMPTS = 3;

/**
 * Path of the `prosody` executable, or null. Besides PATH it looks in the usual system dirs,
 * because `sudo` and CI runners often hand a PATH without `/usr/sbin` or `/usr/local/bin`.
 */
export function findProsody(): string | null {
  return findExecutable('prosody', []);
}

export async function startProsody(opts: ProsodyOptions = {}): Promise<ProsodyInstance> {
  const prosodyBin = findProsody();
  // prosodyctl ships beside prosody; prefer that copy so both come from the same install.
  const prosodyctlBin = prosodyBin ? findExecutable('prosodyctl', [path.dirname(prosodyBin)]) : null;
  if (!prosodyBin || !prosodyctlBin) throw new ProsodyNotInstalledError();

  const domain = opts.domain ?? 'localhost';
  assertSafeName('domain', domain, /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
  const anonymousHost = opts.anonymousHost ?? null;
  if (anonymousHost !== null) {
    assertSafeName('anonymousHost', anonymousHost, /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
    if (anonymousHost === domain) throw new Error(`startProsody: anonymousHost must differ from domain ${JSON.stringify(domain)}`);
  }
  const accounts = (opts.accounts ?? [{ username: 'alice' }, { username: 'bob' }]).map((a) => {
    // Usernames go on prosodyctl's argv and through nodeprep, which would lowercase them behind
    // our back; refusing anything unusual keeps the reported JIDs exactly what Prosody stores.
    assertSafeName('username', a.username, /^[a-z0-9][a-z0-9._-]*$/);
    const password = a.password ?? randomBytes(12).toString('base64url');
    return { username: a.username, password, jid: `${a.username}@${domain}` };
  });
  const launch: Omit<LaunchParams, 'c2sPort' | 'httpPort'> = {
    prosodyBin,
    prosodyctlBin,
    domain,
    accounts,
    runAs: prosodyIdentity(),
    logLevel: opts.logLevel ?? 'info',
    requireEncryption: opts.requireEncryption ?? false,
    tls: opts.tls ?? null,
    extraConfig: opts.extraConfig ?? '',
    anonymousHost,
    sharedRoster: opts.sharedRoster ?? false,
  };

  // A port we picked can be taken by someone else before Prosody binds it; then pick again.
  // A port the caller chose is the caller's business, so that fails at once.
  const callerPorts = [opts.c2sPort, opts.httpPort];
  for (let attempt = 1; ; attempt++) {
    const [c2sPort, httpPort] = await resolvePorts(opts.c2sPort, opts.httpPort);
    try {
      return await launchOnce({ ...launch, c2sPort, httpPort });
    } catch (err) {
      const retry = err instanceof PortInUseError && !callerPorts.includes(err.port) && attempt < PORT_ATTEMPTS;
      if (!retry) throw err;
    }
  }
}

interface LaunchParams {
  prosodyBin: string;
  prosodyctlBin: string;
  domain: string;
  accounts: ProsodyInstance['accounts'];
  runAs: Identity | undefined;
  c2sPort: number;
  httpPort: number;
  logLevel: string;
  requireEncryption: boolean;
  tls: { certFile: string; keyFile: string } | null;
  extraConfig: string;
  anonymousHost: string | null;
  sharedRoster: boolean;
}

/** Prosody started but could not bind one of its ports. */
class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(
    readonly port: number,
    logLine: string,
  ) {
    super(logLine);
  }
}

/** One temp dir, one config, one Prosody; everything is cleaned up again if it does not come up. */
async function launchOnce(p: LaunchParams): Promise<ProsodyInstance> {
  const { domain, c2sPort, httpPort, runAs } = p;
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'xmppgw-prosody-'));
  const logFile = path.join(dir, 'prosody.log');
  const configFile = path.join(dir, 'prosody.cfg.lua');
  let child: ChildProcess;
  try {
    await fsp.mkdir(path.join(dir, 'data'));
    // Empty on purpose: no TLS is offered, but certmanager indexes this dir at start and logs an
    // error if it is missing.
    await fsp.mkdir(path.join(dir, 'certs'));
    await fsp.writeFile(configFile, renderConfig({ ...p, dir, logFile }));
    if (p.sharedRoster) await fsp.writeFile(path.join(dir, 'groups.txt'), `[Everyone]\n${p.accounts.map((a) => `${a.jid}\n`).join('')}`);
    if (runAs) {
      for (const file of [dir, path.join(dir, 'data'), path.join(dir, 'certs'), configFile]) {
        await fsp.chown(file, runAs.uid, runAs.gid);
      }
    }
    // Registered before start: prosodyctl 0.12 writes the account files itself and needs no
    // running server, and the server then never races a half-written account.
    for (const account of p.accounts) {
      await registerAccount(p.prosodyctlBin, configFile, account, domain, dir, runAs);
    }
    child = spawnProsody(p.prosodyBin, configFile, dir, runAs);
  } catch (err) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }

  const proc = child;
  const output = captureOutput(proc);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const isRunning = (): boolean => proc.exitCode === null && proc.signalCode === null;

  // Last resort for a run that ends without calling stop(): Node still runs 'exit' listeners
  // on process.exit() and on an uncaught exception. (Under jest `process` is a sandbox copy whose
  // 'exit' never fires; the parent-death signal set in spawnProsody covers that case.)
  const onProcessExit = (): void => {
    if (isRunning()) proc.kill('SIGKILL');
    try {
      // Prosody may still be writing for the instant until SIGKILL lands.
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // leaving a temp dir behind beats throwing from an 'exit' listener
    }
  };
  process.on('exit', onProcessExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', onProcessExit);
      if (isRunning()) {
        proc.kill('SIGTERM');
        if (!(await settlesWithin(exited, STOP_GRACE_MS)) && isRunning()) {
          proc.kill('SIGKILL');
          await settlesWithin(exited, KILL_WAIT_MS);
        }
      }
      await fsp.rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    await waitUntilReady({ domain, c2sPort, httpPort, logFile, isRunning });
  } catch (err) {
    // Read the log before stop() deletes it: the tail is usually the whole diagnosis.
    const logTail = await readTail(logFile);
    const status = isRunning()
      ? 'still running'
      : `exit code ${String(proc.exitCode)}, signal ${String(proc.signalCode)}`;
    await stop();
    const reason = err instanceof Error ? err.message : String(err);
    const message =
      `Prosody did not start (${reason}; ${status}).\n` +
      `--- last lines of ${logFile} ---\n${logTail || '(empty)'}\n` +
      `--- prosody stdout/stderr ---\n${output() || '(empty)'}`;
    throw err instanceof PortInUseError ? new PortInUseError(err.port, message) : new Error(message);
  }

  return {
    domain,
    c2sPort,
    httpPort,
    websocketUrl: `ws://127.0.0.1:${httpPort}${WEBSOCKET_PATH}`,
    boshUrl: `http://127.0.0.1:${httpPort}/http-bind`,
    accounts: p.accounts,
    dir,
    logFile,
    stop,
  };
}

// --- configuration -------------------------------------------------------------------------

interface ConfigParams {
  dir: string;
  domain: string;
  c2sPort: number;
  httpPort: number;
  logFile: string;
  logLevel: string;
  requireEncryption: boolean;
  tls: { certFile: string; keyFile: string } | null;
  extraConfig: string;
  anonymousHost: string | null;
  sharedRoster: boolean;
}

/** The whole prosody.cfg.lua. Every path is absolute and inside `dir`. */
function renderConfig(p: ConfigParams): string {
  const s = luaString;
  const inDir = (name: string): string => s(path.join(p.dir, name));
  return `-- Generated by xmpp-ws-gateway (src/demo/prosody.ts) for one throwaway run.
-- Everything lives in ${p.dir} and is deleted when the instance stops.

pidfile = ${inDir('prosody.pid')}
data_path = ${inDir('data')}
-- Keep /var/lib/prosody and /etc/prosody out of it: no system plugins, no system certificates.
plugin_paths = {}
installer_plugin_path = ${inDir('custom_plugins')}
certificates = ${inDir('certs')}
log = { { levels = { min = ${s(p.logLevel)} }, to = "file", filename = ${s(p.logFile)} } }

-- Loopback only, and only the two listeners we use. s2s and every TLS port are closed, so
-- Prosody never needs (or looks for) a certificate.
interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
c2s_ports = { ${p.c2sPort} }
c2s_direct_tls_ports = {}
legacy_ssl_ports = {}
s2s_ports = {}
s2s_direct_tls_ports = {}
http_interfaces = { "127.0.0.1" }
http_ports = { ${p.httpPort} }
https_interfaces = {}
https_ports = {}
-- Clients reach the reference WebSocket as 127.0.0.1:<port>; route that Host to our VirtualHost.
http_default_host = ${s(p.domain)}

-- mod_tls is not loaded, so c2s is plaintext on loopback: SASL PLAIN must be allowed over it.
c2s_require_encryption = ${p.requireEncryption ? 'true' : 'false'}
${p.tls === null ? '' : `-- STARTTLS on c2s with the test certificate (tests/helpers/certs.ts).
ssl = { certificate = ${s(p.tls.certFile)}; key = ${s(p.tls.keyFile)} }`}
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

-- The reference endpoint is plain ws:// on loopback; treat it like the wss:// a browser would
-- use, so requireEncryption does not lock WebSocket clients out as well.
consider_websocket_secure = true
-- Likewise for the reference BOSH endpoint (mod_bosh), plain http:// on loopback.
consider_bosh_secure = true

modules_enabled = {
  "roster"; "saslauth"; "disco"; "ping"; "websocket"; "bosh";${p.tls === null ? '' : ' "tls";'}${p.sharedRoster ? ' "groups";' : ''}
}
${p.sharedRoster ? `-- Every account in one shared roster group.\ngroups_file = ${inDir('groups.txt')}\n` : ''}
-- presence, message, iq, offline and c2s are autoloaded; s2s is not wanted at all.
modules_disabled = { "s2s"; "s2s_auth_certs" }

${p.extraConfig}

VirtualHost ${s(p.domain)}
${
  p.anonymousHost === null
    ? ''
    : `
-- Logins here are SASL ANONYMOUS only: a fresh random JID each time, nothing stored.
VirtualHost ${s(p.anonymousHost)}
    authentication = "anonymous"
`
}`;
}

/** A Lua double-quoted string literal for any JS string. */
function luaString(value: string): string {
  const escaped = value.replace(/[\\"\n\r\0]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\0' ? '\\0' : `\\${c}`,
  );
  return `"${escaped}"`;
}

function assertSafeName(what: string, value: string, pattern: RegExp): void {
  if (!pattern.test(value)) {
    throw new Error(`startProsody: ${what} ${JSON.stringify(value)} must match ${String(pattern)}`);
  }
}

// --- processes -----------------------------------------------------------------------------

interface Identity {
  uid: number;
  gid: number;
}

/**
 * Prosody refuses to run as root (mod_posix shuts down). When we are root, children are spawned
 * straight as the `prosody` user via spawn's uid/gid rather than through `runuser`: then the child
 * PID *is* Prosody, so SIGTERM/SIGKILL reach it and no wrapper can die and orphan it.
 */
function prosodyIdentity(): Identity | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'prosody'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'prosody'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
  } catch {
    // fall through to the error below
  }
  throw new Error(
    'Running as root, but there is no `prosody` user to run Prosody as (Prosody refuses root). ' +
      "Debian's prosody package creates it; otherwise run as an ordinary user.",
  );
}

/** Environment for Prosody and prosodyctl: HOME points somewhere the prosody user may write. */
function childEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: dir };
}

function registerAccount(
  prosodyctlBin: string,
  configFile: string,
  account: Required<ProsodyAccount>,
  domain: string,
  dir: string,
  runAs: Identity | undefined,
): Promise<void> {
  // 0.12 still accepts the ejabberdctl-style `register USER HOST PASSWORD` (hidden from --help),
  // which, unlike `adduser`, takes the password as an argument instead of from a terminal.
  const args = ['--config', configFile, 'register', account.username, domain, account.password];
  return new Promise((resolve, reject) => {
    execFile(
      prosodyctlBin,
      args,
      { cwd: dir, env: childEnv(dir), timeout: PROSODYCTL_TIMEOUT_MS, ...(runAs ?? {}) },
      (err, stdout, stderr) => {
        if (!err) return resolve();
        reject(
          new Error(
            // prosodyctl pads its messages with blank lines and asterisks; keep the words.
            `prosodyctl register ${account.username} ${domain} failed: ${err.message}\n${stdout}${stderr}`
              .split(account.password)
              .join('<password>')
              .replace(/\n\s*(\*+\s*)?\n/g, '\n')
              .trim(),
          ),
        );
      },
    );
  });
}

function spawnProsody(prosodyBin: string, configFile: string, dir: string, runAs: Identity | undefined): ChildProcess {
  const prosodyArgs = ['--config', configFile, '-F'];
  // setpriv (util-linux, everywhere runuser is) sets PR_SET_PDEATHSIG and execs Prosody, so the
  // kernel kills Prosody if our process dies without running any JS: SIGKILL, OOM, a jest worker
  // torn down. It survives the exec because Prosody's interpreter is not set-uid.
  const setpriv = findSetprivWithPdeathsig();
  const [command, args] = setpriv
    ? [setpriv, ['--pdeathsig', 'KILL', '--', prosodyBin, ...prosodyArgs]]
    : [prosodyBin, prosodyArgs];
  return spawn(command, args, {
    cwd: dir,
    env: childEnv(dir),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(runAs ?? {}),
  });
}

/** `setpriv` if it is there and new enough to know `--pdeathsig` (util-linux >= 2.33). */
function findSetprivWithPdeathsig(): string | null {
  const setpriv = findExecutable('setpriv', []);
  if (!setpriv) return null;
  try {
    return execFileSync(setpriv, ['--help'], { encoding: 'utf8' }).includes('--pdeathsig') ? setpriv : null;
  } catch {
    return null;
  }
}

/**
 * Keeps the last few KiB of the child's stdout and stderr. Prosody logs to its file, so what
 * lands here is what happens before logging is up: config syntax errors, missing Lua modules.
 */
function captureOutput(child: ChildProcess): () => string {
  let tail = '';
  const append = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => tail.trim();
}

function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function readTail(file: string): Promise<string> {
  try {
    const lines = (await fsp.readFile(file, 'utf8')).trimEnd().split('\n');
    return lines.slice(-LOG_TAIL_LINES).join('\n');
  } catch {
    return '';
  }
}

function findExecutable(name: string, preferredDirs: string[]): string | null {
  const dirs = [
    ...preferredDirs,
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
    '/usr/local/bin',
    '/usr/bin',
    '/usr/sbin',
    '/bin',
  ];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

// --- ports and readiness -------------------------------------------------------------------

/**
 * Fills in missing ports by binding port 0 and closing. All probe sockets stay open until every
 * port is chosen, so the two ports are distinct; the short window before Prosody binds them is
 * covered by the readiness probe, which checks that *our* Prosody answers.
 */
async function resolvePorts(c2sPort?: number, httpPort?: number): Promise<[number, number]> {
  const servers: net.Server[] = [];
  const pick = async (): Promise<number> => {
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  };
  try {
    return [c2sPort ?? (await pick()), httpPort ?? (await pick())];
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

async function waitUntilReady(p: {
  domain: string;
  c2sPort: number;
  httpPort: number;
  logFile: string;
  isRunning: () => boolean;
}): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no attempt made';
  for (const probe of [() => probeC2s(p.c2sPort, p.domain), () => probeHttp(p.httpPort)]) {
    for (;;) {
      if (!p.isRunning()) throw new Error('prosody exited during start-up');
      // Prosody logs a port it cannot bind and carries on without it; waiting would only run
      // into the deadline (or, worse, probe whoever holds the port).
      const inUse = PORT_IN_USE.exec(await fsp.readFile(p.logFile, 'utf8').catch(() => ''));
      if (inUse) throw new PortInUseError(Number(inUse[1]), inUse[0]);
      try {
        await probe();
        break;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= deadline) {
        throw new Error(`not ready after ${READY_TIMEOUT_MS} ms: ${lastError}`);
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
    }
  }
}

/**
 * Opens an RFC 6120 stream and waits for `<stream:features`. A bare TCP connect could be
 * answered by whatever else grabbed the port; features for our domain mean our Prosody is up.
 */
function probeC2s(port: number, domain: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`c2s port ${port}: no stream features`)), PROBE_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('error', (err) => finish(new Error(`c2s port ${port}: ${err.message}`)));
    socket.on('connect', () => {
      socket.write(
        `<?xml version='1.0'?><stream:stream to=${xmlAttr(domain)} version='1.0' ` +
          `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
      );
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('<stream:error')) finish(new Error(`c2s port ${port}: ${received.slice(0, 300)}`));
      else if (received.includes('<stream:features')) finish();
    });
  });
}

/** mod_websocket answers a plain GET on its path with 200 once the HTTP service is up. */
function probeHttp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: WEBSOCKET_PATH, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`GET ${WEBSOCKET_PATH} on port ${port}: HTTP ${String(res.statusCode)}`));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${WEBSOCKET_PATH} on port ${port}: timeout`)));
    req.on('error', reject);
  });
}

function xmlAttr(value: string): string {
  return `'${value.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;')}'`;
}
