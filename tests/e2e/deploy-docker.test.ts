/**
 * deploy/Dockerfile and /.dockerignore, without a Docker engine:
 * - the file is parsed (dockerfile-ast) and linted (dockerfile-utils, the VS Code Docker linter);
 * - the invariants of the image are asserted on the parsed instructions: multi-stage, a numeric
 *   non-root USER before the exec-form ENTRYPOINT, production dependencies only in the final stage,
 *   ports and environment that the gateway's own config parser accepts, a HEALTHCHECK on /healthz;
 * - both stages are replayed in a temporary directory, instruction by instruction: the build context
 *   is what .dockerignore lets through (@balena/dockerignore, Docker's matching rules), COPY copies
 *   from that context or from the earlier stage, `npm run build` really compiles the copied sources,
 *   the runtime stage's `npm ci --omit=dev` really installs (from the npm cache when it can), and the
 *   result is started with the image's ENTRYPOINT and ENV (addresses moved to 127.0.0.1 and random
 *   ports), answers /healthz, and the HEALTHCHECK command itself passes against it.
 * What cannot be replayed here: the base image itself (no registry but npm and Debian), so the host's
 * Node runs the result; the build stage's full `npm ci` is the checkout's own node_modules (same lock
 * file), linked rather than installed again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import dockerignore from '@balena/dockerignore';
import { DockerfileParser, type Dockerfile, type Instruction, type Copy, type From, type JSONInstruction, type Env, type Healthcheck } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { parseCli, SETTINGS, ENV_PREFIX } from '../../src/config';
import { freePort, httpGet as get } from '../helpers/net';

const ROOT = join(__dirname, '..', '..');
const DOCKERFILE = join(ROOT, 'deploy', 'Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');
const df: Dockerfile = DockerfileParser.parse(text);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

// ---------------------------------------------------------------- the parsed file, by stage

interface Stage {
  readonly name: string;
  readonly from: From;
  readonly instructions: readonly Instruction[];
}

function stagesOf(file: Dockerfile): Stage[] {
  const stages: Array<{ name: string; from: From; instructions: Instruction[] }> = [];
  for (const i of file.getInstructions()) {
    if (i.getKeyword() === 'FROM') {
      const from = i as From;
      stages.push({ name: from.getBuildStage() ?? String(stages.length), from, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push(i);
    }
  }
  return stages;
}

const stages = stagesOf(df);
const final = stages[stages.length - 1]!;
const of = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.getKeyword() === keyword);
const jsonForm = (i: Instruction): string[] => (i as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());
const finalEnv = (): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const e of of(final, 'ENV') as Env[]) for (const p of e.getProperties()) env[p.getName()] = p.getValue() ?? '';
  return env;
};
/** `CMD [...]` of the HEALTHCHECK, as the argv Docker would exec. */
function healthcheckArgv(hc: Healthcheck): string[] {
  const content = hc.getArgumentsContent() ?? '';
  const m = /(?:^|\s)CMD\s+(\[.*\])\s*$/s.exec(content);
  if (m === null) throw new Error(`HEALTHCHECK is not in exec form (CMD ["…"]): ${content}`);
  return JSON.parse(m[1]!) as string[];
}
/** FROM's image with build ARGs resolved from their defaults. */
function resolvedImage(from: From): string {
  const args = Object.fromEntries(df.getInitialARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue() ?? '']));
  return (from.getImage() ?? '').replace(/\$\{?(\w+)\}?/g, (_, name: string) => args[name] ?? `<unset ${name}>`);
}

// ---------------------------------------------------------------- the build context

const ignore = dockerignore().add(readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n'));
const exceptions = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('!')).map((l) => l.slice(1));

/** Files Docker would send as the build context (relative, '/'-separated), as .dockerignore filters them. */
function contextFiles(): Set<string> {
  const files = new Set<string>();
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        // Docker skips an excluded directory unless an exception pattern reaches inside it.
        if (ignore.ignores(path) && !exceptions.some((e) => e.startsWith(`${path}/`))) continue;
        walk(path);
      } else if (!ignore.ignores(path)) {
        files.add(path);
      }
    }
  };
  walk('');
  return files;
}

// ---------------------------------------------------------------- replaying the stages

interface Replayed {
  /** Root directory of each stage's filesystem. */
  readonly roots: Map<string, string>;
  /** WORKDIR at the end of each stage, absolute inside the stage. */
  readonly workdirs: Map<string, string>;
  /** Every RUN command and what the replay did with it. */
  readonly runs: Array<{ stage: string; command: string; did: string }>;
}

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, NODE_ENV: undefined } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
}

function replay(tmp: string, context: Set<string>): Replayed {
  const roots = new Map<string, string>();
  const workdirs = new Map<string, string>();
  const runs: Replayed['runs'] = [];
  for (const stage of stages) {
    const root = join(tmp, stage.name);
    mkdirSync(root, { recursive: true });
    roots.set(stage.name, root);
    let cwd = '/';
    const inStage = (p: string): string => join(root, posix.resolve(cwd, p));
    for (const i of stage.instructions) {
      const keyword = i.getKeyword();
      switch (keyword) {
        case 'WORKDIR':
          cwd = posix.resolve(cwd, i.getArguments()[0]!.getValue());
          mkdirSync(join(root, cwd), { recursive: true });
          break;
        case 'COPY': {
          const copy = i as Copy;
          const flags: Record<string, string> = Object.fromEntries(copy.getFlags().map((f) => [f.getName(), f.getValue() ?? '']));
          const unknown = Object.keys(flags).filter((f) => !['from', 'chown', 'chmod', 'link'].includes(f));
          if (unknown.length > 0) throw new Error(`COPY flags the replay does not know: ${unknown.join(', ')}`);
          const args = copy.getJSONStrings().length > 0 ? jsonForm(copy) : copy.getArguments().map((a) => a.getValue());
          const dest = args[args.length - 1]!;
          const sources = args.slice(0, -1);
          for (const src of sources) {
            if (/[*?[]/.test(src)) throw new Error(`COPY ${src}: wildcards are not replayed; list the files`);
            const toDir = dest.endsWith('/') || sources.length > 1;
            if (flags.from !== undefined) {
              const fromRoot = roots.get(flags.from);
              if (fromRoot === undefined) throw new Error(`COPY --from=${flags.from}: no earlier stage of that name`);
              const from = join(fromRoot, posix.resolve('/', src));
              if (!existsSync(from)) throw new Error(`COPY --from=${flags.from} ${src}: not in that stage's filesystem`);
              const target = toDir && !statSync(from).isDirectory() ? join(inStage(dest), posix.basename(src)) : inStage(dest);
              cpSync(from, target, { recursive: true });
            } else {
              const rel = posix.normalize(src).replace(/^\.\/?/, '').replace(/\/$/, '');
              const under = [...context].filter((f) => f === rel || f.startsWith(`${rel}/`));
              if (under.length === 0) throw new Error(`COPY ${src}: not in the build context (missing, or excluded by .dockerignore)`);
              for (const f of under) {
                const target = f === rel ? (toDir ? join(inStage(dest), posix.basename(f)) : inStage(dest)) : join(inStage(dest), f.slice(rel.length + 1));
                cpSync(join(ROOT, f), target, { recursive: true });
              }
            }
          }
          break;
        }
        case 'RUN': {
          const content = (i.getArgumentsContent() ?? '').replace(/\\\n/g, ' ');
          for (const command of content.split('&&').map((c) => c.trim().replace(/\s+/g, ' '))) {
            const dir = join(root, cwd);
            if (/^npm ci( |$)/.test(command) && stage === final) {
              // The production install, for real, with the Dockerfile's flags; --prefer-offline uses the
              // npm cache the checkout's own `npm ci` filled.
              const flags = command.split(' ').slice(2);
              run('npm', ['ci', ...flags, '--prefer-offline', '--loglevel=error'], dir);
              runs.push({ stage: stage.name, command, did: 'ran (npm cache preferred)' });
            } else if (/^npm ci( |$)/.test(command)) {
              // The build stage's full install: the checkout's node_modules comes from the same lock file.
              symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
              runs.push({ stage: stage.name, command, did: 'linked the checkout node_modules' });
            } else if (/^npm run [\w:-]+$/.test(command)) {
              run('npm', ['run', '--silent', command.split(' ')[2]!], dir);
              runs.push({ stage: stage.name, command, did: 'ran' });
            } else if (command === 'npm cache clean --force') {
              // Only shrinks the image layer; here it would empty this machine's npm cache.
              runs.push({ stage: stage.name, command, did: 'skipped (image size only)' });
            } else {
              throw new Error(`RUN ${command}: the replay does not know this command; teach tests/e2e/deploy-docker.test.ts`);
            }
          }
          break;
        }
        case 'ADD':
          throw new Error('ADD: use COPY (no remote URLs or archive extraction in this image)');
        case 'ENV': case 'USER': case 'EXPOSE': case 'HEALTHCHECK': case 'STOPSIGNAL': case 'ENTRYPOINT': case 'CMD': case 'ARG': case 'LABEL':
          break;
        default:
          throw new Error(`${keyword}: the replay does not know this instruction`);
      }
    }
    workdirs.set(stage.name, cwd);
  }
  return { roots, workdirs, runs };
}

// ---------------------------------------------------------------- small helpers



// ---------------------------------------------------------------- the tests

describe('deploy/Dockerfile', () => {
  it('parses and passes the Dockerfile linter with no diagnostics', () => {
    const diagnostics = validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(diagnostics).toEqual([]);
    expect(df.getDirectives().map((d) => `${d.getName()}=${d.getValue()}`)).toContain('syntax=docker/dockerfile:1');
  });

  it('builds in one stage and runs from another, both from a Node image the package supports', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    const minMajor = Number(/(\d+)/.exec(pkg.engines.node)![1]);
    for (const s of stages) {
      const image = resolvedImage(s.from);
      expect(image).toMatch(/^node:\d+(\.\d+)*-[a-z-]+$/);
      expect(Number(/^node:(\d+)/.exec(image)![1])).toBeGreaterThanOrEqual(minMajor);
    }
    expect(resolvedImage(stages[0]!.from)).toBe(resolvedImage(final.from));
  });

  it('runs the final stage as a numeric non-root user, set before the exec-form ENTRYPOINT', () => {
    const users = of(final, 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.getArguments()[0]!.getValue().split(':');
    // Numeric, so Kubernetes' runAsNonRoot can verify it; neither uid nor gid 0.
    expect(uid).toMatch(/^[1-9]\d*$/);
    if (gid !== undefined) expect(gid).toMatch(/^[1-9]\d*$/);
    const entrypoints = of(final, 'ENTRYPOINT');
    expect(entrypoints).toHaveLength(1);
    const order = final.instructions;
    expect(order.indexOf(users[0]!)).toBeLessThan(order.indexOf(entrypoints[0]!));
    // Exec form: node itself gets the SIGTERM (no /bin/sh in between), which starts the drain.
    expect(jsonForm(entrypoints[0]!)).toEqual(['node', pkg.bin['xmpp-ws-gateway']]);
    expect(of(final, 'STOPSIGNAL').map((i) => i.getArguments()[0]!.getValue())).toEqual(['SIGTERM']);
  });

  it('installs only production dependencies in the final stage', () => {
    const runs = of(final, 'RUN').map((i) => i.getArgumentsContent() ?? '');
    expect(runs.some((r) => /\bnpm ci\b[^&]*--omit=dev/.test(r))).toBe(true);
    for (const r of runs) {
      expect(r).not.toMatch(/\bnpm (i|install|add)\b/);
      for (const ci of r.match(/\bnpm ci\b[^&]*/g) ?? []) expect(ci).toMatch(/--omit=dev/);
    }
    for (const copy of of(final, 'COPY') as Copy[]) {
      // node_modules never comes from the build stage, where the dev dependencies are.
      expect(jsonForm(copy).concat(copy.getArguments().map((a) => a.getValue())).join(' ')).not.toMatch(/node_modules/);
    }
    expect(finalEnv().NODE_ENV).toBe('production');
  });

  it('listens on 0.0.0.0 inside the container, on the EXPOSEd ports, with settings the gateway accepts', () => {
    const env = finalEnv();
    expect(env.XMPP_WS_GATEWAY_LISTEN).toBe('0.0.0.0:5280');
    expect(env.XMPP_WS_GATEWAY_METRICS_LISTEN).toBe('0.0.0.0:9464');
    const exposed = of(final, 'EXPOSE').flatMap((i) => i.getArguments().map((a) => a.getValue()));
    expect(exposed.sort()).toEqual(['5280', '9464']);
    // Every XMPP_WS_GATEWAY_* variable is a real setting, and together they parse.
    const known = new Set(SETTINGS.map((s) => ENV_PREFIX + s.env));
    for (const name of Object.keys(env).filter((n) => n.startsWith(ENV_PREFIX))) expect(known.has(name) ? name : `unknown ${name}`).toBe(name);
    const cli = parseCli([], env);
    if (cli.kind !== 'run') throw new Error(cli.kind);
    expect(cli.config.listen).toEqual({ host: '0.0.0.0', port: 5280 });
    expect(cli.config.metricsListen).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(cli.config.workers).toBe(1);
  });

  it('has a HEALTHCHECK in exec form on /healthz of the metrics port', () => {
    const hcs = df.getHEALTHCHECKs();
    expect(hcs).toHaveLength(1);
    const argv = healthcheckArgv(hcs[0]!);
    expect(argv[0]).toBe('node');
    expect(argv.join(' ')).toMatch(/\/healthz/);
    expect(argv.join(' ')).toMatch(/XMPP_WS_GATEWAY_METRICS_LISTEN/);
  });
});

describe('/.dockerignore', () => {
  const context = contextFiles();

  it('keeps dependencies, build output, tests and git history out of the context', () => {
    for (const f of context) expect(f).not.toMatch(/^(node_modules|dist|tests|coverage|\.git|bench|deploy|grafana)\//);
    expect(context.has('package-lock.json')).toBe(true);
    expect(context.size).toBeLessThan(200);
  });
});

describe('deploy/Dockerfile replayed in a temporary directory', () => {
  let tmp: string;
  let replayed: Replayed;
  let app: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'xmppgw-docker-'));
    replayed = replay(tmp, contextFiles());
    app = join(replayed.roots.get(final.name)!, replayed.workdirs.get(final.name)!);
  }, 300_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('replays every RUN step it knows and skips only the cache clean', () => {
    expect(replayed.runs.map((r) => `${r.stage}: ${r.command} -> ${r.did}`)).toEqual([
      'build: npm ci --ignore-scripts --no-audit --no-fund -> linked the checkout node_modules',
      'build: npm run build -> ran',
      'runtime: npm ci --omit=dev --ignore-scripts --no-audit --no-fund -> ran (npm cache preferred)',
      'runtime: npm cache clean --force -> skipped (image size only)',
    ]);
  });

  it('leaves the ENTRYPOINT script, the compiled code and package.json in the final stage', () => {
    const entry = jsonForm(of(final, 'ENTRYPOINT')[0]!);
    expect(existsSync(join(app, entry[1]!))).toBe(true);
    expect(existsSync(join(app, 'dist', 'main.js'))).toBe(true);
    expect(existsSync(join(app, 'dist', 'cluster.js'))).toBe(true);
    expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).version).toBe(pkg.version);
    // Nothing of the sources, tests or tooling.
    expect(existsSync(join(app, 'src'))).toBe(false);
    expect(existsSync(join(app, 'tests'))).toBe(false);
    expect(existsSync(join(app, 'tsconfig.json'))).toBe(false);
  });

  it('has every production dependency and no development dependency in node_modules', () => {
    const installed = (name: string): boolean => existsSync(join(app, 'node_modules', name, 'package.json'));
    for (const name of Object.keys(pkg.dependencies)) expect(`${name}: ${installed(name)}`).toBe(`${name}: true`);
    for (const name of Object.keys(pkg.devDependencies)) expect(`${name}: ${installed(name)}`).toBe(`${name}: false`);
    expect(existsSync(join(app, 'node_modules', '.bin', 'tsc'))).toBe(false);
  });

  it('starts with the ENTRYPOINT and the image environment, answers /healthz, and the HEALTHCHECK passes', async () => {
    const entry = jsonForm(of(final, 'ENTRYPOINT')[0]!);
    const argv0 = (args: string[]): [string, string[]] => [entry[0] === 'node' ? process.execPath : entry[0]!, [...entry.slice(1), ...args]];
    const imageEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...finalEnv() };

    const version = spawnSync(...argv0(['--version']), { cwd: app, env: imageEnv, encoding: 'utf8', timeout: 10_000 });
    expect(version.stdout.trim()).toBe(pkg.version);
    const help = spawnSync(...argv0(['--help']), { cwd: app, env: imageEnv, encoding: 'utf8', timeout: 10_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/--upstream/);

    // Only the addresses change: 127.0.0.1 on random ports instead of the container's 0.0.0.0.
    const [port, opsPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...imageEnv,
      XMPP_WS_GATEWAY_LISTEN: `127.0.0.1:${port}`,
      XMPP_WS_GATEWAY_METRICS_LISTEN: `127.0.0.1:${opsPort}`,
      XMPP_WS_GATEWAY_UPSTREAM: `127.0.0.1:${upstreamPort}`,
      XMPP_WS_GATEWAY_DRAIN_TIMEOUT: '1s',
    };
    const child = spawn(...argv0([]), { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const healthcheck = (): number => {
      const [cmd, ...args] = healthcheckArgv(df.getHEALTHCHECKs()[0]!);
      return spawnSync(cmd === 'node' ? process.execPath : cmd!, args, { cwd: app, env, timeout: 10_000 }).status ?? -1;
    };
    try {
      const deadline = Date.now() + 15_000;
      while (!out.includes('"event":"ops_listening"')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the replayed image did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await get(`http://127.0.0.1:${opsPort}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
      // Nothing listens upstream: alive, but not ready.
      expect((await get(`http://127.0.0.1:${opsPort}/readyz`)).status).toBe(503);
      expect((await get(`http://127.0.0.1:${opsPort}/metrics`)).body).toContain(`xmppgw_build_info{version="${pkg.version}"`);
      expect(healthcheck()).toBe(0);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // And the HEALTHCHECK does fail once nothing answers.
      expect(healthcheck()).toBe(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
