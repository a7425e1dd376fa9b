/**
 * Builds deploy/Dockerfile for real with Debian's podman, for the container tests. No image
 * registry is reachable here, so the `node:22-bookworm-slim` base users pull is stood in for by a
 * test fixture made from Debian packages (mmdebstrap, minbase bookworm) plus this machine's own
 * Node binary and npm.
 *
 * Each layer is cached by image tag: the Debian base and the Node base are built once per machine
 * (per Node version), and the gateway image is rebuilt from podman's layer cache, so a second run
 * costs seconds. Everything runs with `--network=host`: the only traffic is the build's package
 * downloads (Debian mirror, npm registry, as `npm ci` and apt do anyway) and loopback.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/** crun, podman's default runtime, refuses the cgroup layout of these machines; runc works. */
export const PODMAN = ['podman', '--runtime', 'runc'];
/** podman's default ulimits exceed what a process may set here: pass lower ones to every build and run. */
export const LIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];

export const DEBIAN_BASE = 'localhost/xmppgw-test-debian:bookworm';
/** The Node base: tagged with the Node version copied in, so a Node upgrade builds a new one. */
export const NODE_BASE = `localhost/xmppgw-test-node:${process.version.slice(1)}`;
export const GATEWAY_IMAGE = 'localhost/xmpp-ws-gateway:test';

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs podman (or another command) to completion without blocking the event loop; bounded in time. */
export function exec(argv: readonly string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like exec, but a non-zero exit is an error carrying the command's output. */
export async function must(argv: readonly string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const r = await exec(argv, options);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

export function podmanInstalled(): boolean {
  return spawnSync('podman', ['--version']).status === 0 && spawnSync('mmdebstrap', ['--version']).status === 0;
}

async function imageExists(tag: string): Promise<boolean> {
  return (await exec([...PODMAN, 'image', 'exists', tag])).code === 0;
}

/** Debian bookworm minbase with CA certificates, from Debian's packages (about a minute, once). */
async function ensureDebianBase(): Promise<void> {
  if (await imageExists(DEBIAN_BASE)) return;
  const dir = mkdtempSync(join(tmpdir(), 'xmppgw-debian-'));
  try {
    const tar = join(dir, 'base.tar');
    await must(['mmdebstrap', '--variant=minbase', '--include=ca-certificates', 'bookworm', tar], { timeoutMs: 900_000 });
    await must([...PODMAN, 'import', tar, DEBIAN_BASE], { timeoutMs: 300_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** npm's own directory, as installed next to this Node (`npm root -g`/npm). */
function npmDirectory(): string {
  const root = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' }).stdout.trim();
  const dir = join(root, 'npm');
  if (!existsSync(join(dir, 'bin', 'npm-cli.js'))) throw new Error(`npm not found at ${dir} (npm root -g)`);
  return dir;
}

/**
 * The stand-in for `node:22-bookworm-slim`: the Debian base plus this machine's Node binary and
 * npm, and the machine's CA bundle so npm inside the build trusts what the host trusts.
 */
async function ensureNodeBase(): Promise<void> {
  if (await imageExists(NODE_BASE)) return;
  await ensureDebianBase();
  const ctx = mkdtempSync(join(tmpdir(), 'xmppgw-node-base-'));
  try {
    copyFileSync(process.execPath, join(ctx, 'node'));
    cpSync(npmDirectory(), join(ctx, 'npm'), { recursive: true, dereference: true });
    copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(ctx, 'ca.crt'));
    writeFileSync(
      join(ctx, 'Containerfile'),
      [
        `FROM ${DEBIAN_BASE}`,
        'COPY node /usr/local/bin/node',
        'COPY npm /usr/local/lib/node_modules/npm',
        'COPY ca.crt /etc/ssl/certs/ca-certificates.crt',
        'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
        'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version',
        // The official Node images carry a `node` user with uid 1000, which the Dockerfile's USER names.
        'RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node',
        '',
      ].join('\n'),
    );
    await must([...PODMAN, 'build', '--network=host', ...LIMITS, '-t', NODE_BASE, ctx], { timeoutMs: 600_000 });
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/**
 * Builds deploy/Dockerfile from the repository root (its .dockerignore shapes the context), with the
 * base swapped through the Dockerfile's NODE_IMAGE argument. Docker format, so HEALTHCHECK is kept.
 */
export async function buildGatewayImage(): Promise<string> {
  await ensureNodeBase();
  await must(
    [...PODMAN, 'build', '--network=host', ...LIMITS, '--format', 'docker', '--build-arg', `NODE_IMAGE=${NODE_BASE}`, '-f', join('deploy', 'Dockerfile'), '-t', GATEWAY_IMAGE, '.'],
    { timeoutMs: 1_200_000, cwd: ROOT },
  );
  return GATEWAY_IMAGE;
}

/** Removes a container by name (idempotent). */
export async function removeContainer(name: string): Promise<void> {
  await exec([...PODMAN, 'rm', '--force', '--time', '5', name]);
}
