/**
 * The Prosody process and its surroundings: which user it runs as (it refuses root), finding the
 * executables, spawning it so it dies with us, and reading what it printed or logged.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, promises as fsp, statSync } from 'node:fs';
import path from 'node:path';

const OUTPUT_TAIL_BYTES = 8 * 1024;
const LOG_TAIL_LINES = 40;

export interface Identity {
  uid: number;
  gid: number;
}

/**
 * Prosody refuses to run as root (mod_posix shuts down). When we are root, children are spawned
 * straight as the `prosody` user via spawn's uid/gid rather than through `runuser`: then the child
 * PID *is* Prosody, so SIGTERM/SIGKILL reach it and no wrapper can die and orphan it.
 */
export function prosodyIdentity(): Identity | undefined {
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
export function childEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: dir };
}

export function spawnProsody(prosodyBin: string, configFile: string, dir: string, runAs: Identity | undefined): ChildProcess {
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
export function findSetprivWithPdeathsig(): string | null {
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
export function captureOutput(child: ChildProcess): () => string {
  let tail = '';
  const append = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => tail.trim();
}

export function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function readTail(file: string): Promise<string> {
  try {
    const lines = (await fsp.readFile(file, 'utf8')).trimEnd().split('\n');
    return lines.slice(-LOG_TAIL_LINES).join('\n');
  } catch {
    return '';
  }
}

export function findExecutable(name: string, preferredDirs: string[]): string | null {
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
