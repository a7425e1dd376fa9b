/**
 * A private, throwaway Prosody 0.12 for `npm run demo` and the integration tests.
 *
 * Each call to {@link startProsody} writes its own config into a fresh temp dir, registers the
 * accounts with `prosodyctl`, runs `prosody -F` in the foreground on 127.0.0.1 only and waits until
 * the c2s port really answers as this XMPP domain. Nothing in /etc/prosody or /var/lib/prosody is
 * read or written, so it can run beside a system Prosody (Debian's package starts one on 5222).
 *
 * This file is the lifecycle (start, retry on a taken port, stop, clean up); the concerns it uses
 * are beside it: ./config.ts (prosody.cfg.lua), ./accounts.ts (prosodyctl), ./process.ts (user,
 * spawn, output), ./readiness.ts (ports, probes).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registerAccount } from './accounts';
import { assertSafeName, renderConfig, type ConfigParams } from './config';
import { captureOutput, findExecutable, prosodyIdentity, readTail, settlesWithin, spawnProsody, type Identity } from './process';
import { PortInUseError, WEBSOCKET_PATH, resolvePorts, waitUntilReady } from './readiness';

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

const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;
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

/** What one launch needs: the config's parameters (less the paths it makes itself), binaries, accounts, user. */
interface LaunchParams extends Omit<ConfigParams, 'dir' | 'logFile'> {
  prosodyBin: string;
  prosodyctlBin: string;
  accounts: ProsodyInstance['accounts'];
  runAs: Identity | undefined;
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

