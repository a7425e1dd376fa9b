/**
 * deploy/Dockerfile and /.dockerignore:
 * - the file is parsed (dockerfile-ast) and linted (dockerfile-utils, the VS Code Docker linter), and
 *   the image's invariants are asserted on the parsed instructions: multi-stage, a numeric non-root
 *   USER before the exec-form ENTRYPOINT, production dependencies only in the final stage, ports and
 *   environment that the gateway's own config parser accepts, a HEALTHCHECK on /healthz;
 * - the image is built for real with Debian's podman (tests/helpers/container-image.ts: the base is
 *   a fixture made from Debian packages plus this machine's Node, standing in for
 *   node:22-bookworm-slim) and run as Kubernetes runs it (deploy/kubernetes): as the image's
 *   non-root user, with a read-only root filesystem and no writable tmpfs, on the host network,
 *   listening on random 127.0.0.1 ports. A client logs in through the container to a private
 *   Prosody, the image's own HEALTHCHECK passes, and `podman stop` drains and exits 0.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import dockerignore from '@balena/dockerignore';
import { DockerfileParser, type Dockerfile, type Instruction, type Copy, type From, type JSONInstruction, type Env, type Healthcheck } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { parseCli, SETTINGS, ENV_PREFIX } from '../../src/config';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { buildGatewayImage, exec, GATEWAY_IMAGE, LIMITS, must, PODMAN, podmanInstalled, removeContainer } from '../helpers/container-image';
import { httpGet as get, freePorts } from '../helpers/net';
import { is, login } from '../helpers/raw-xmpp';

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

/** Polls an async check every 250 ms until it holds; bounded. */
async function pollUntil(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('deploy/Dockerfile built and run with podman', () => {
  const name = `xmppgw-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  let prosody: ProsodyInstance;
  let port: number;
  let metricsPort: number;
  const logs = async (): Promise<string> => {
    const r = await exec([...PODMAN, 'logs', name]);
    return `${r.stdout}${r.stderr}`.slice(-4000);
  };
  const inspect = async (format: string): Promise<string> => (await must([...PODMAN, 'inspect', '--format', format, name])).trim();

  beforeAll(async () => {
    if (!podmanInstalled()) throw new Error('podman or mmdebstrap is not installed: run `npm run test:deps`');
    // The first build on a machine makes the Debian and Node bases (a few minutes); later runs hit
    // podman's cache by tag and layer.
    const [started] = await Promise.all([startProsody(), buildGatewayImage()]);
    prosody = started;
    [port, metricsPort] = await freePorts(2);
    await must([
      ...PODMAN, 'run', '--detach', '--name', name,
      // As deploy/kubernetes runs it: the image's USER, readOnlyRootFilesystem and nothing writable.
      '--read-only', '--read-only-tmpfs=false',
      '--network=host', ...LIMITS,
      '-e', `XMPP_WS_GATEWAY_LISTEN=127.0.0.1:${port}`,
      '-e', `XMPP_WS_GATEWAY_METRICS_LISTEN=127.0.0.1:${metricsPort}`,
      '-e', `XMPP_WS_GATEWAY_UPSTREAM=127.0.0.1:${prosody.c2sPort}`,
      GATEWAY_IMAGE,
    ]);
    try {
      await pollUntil(async () => (await get(`http://127.0.0.1:${metricsPort}/healthz`, 2000)).status === 200, '/healthz', 120_000);
    } catch (err) {
      throw new Error(`the container never answered /healthz (${(err as Error).message}); its log:\n${await logs()}`);
    }
  }, 1_800_000);

  afterAll(async () => {
    await removeContainer(name);
    await prosody?.stop();
  }, 60_000);

  it('runs as the image\'s numeric non-root user on a read-only root filesystem', async () => {
    expect(await inspect('{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}')).toBe('1000:1000 true');
    // The gateway process itself (rootful podman without a user namespace: host and container uids agree).
    const pid = await inspect('{{.State.Pid}}');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe('1000');
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 2)).toEqual(['node', 'bin/xmpp-ws-gateway.js']);
    for (const dir of ['/app', '/tmp', '/home/node']) {
      const probe = await exec([...PODMAN, 'exec', name, 'node', '-e', `require('fs').writeFileSync('${dir}/probe', 'x')`]);
      expect({ dir, code: probe.code, error: /EROFS|read-only/i.test(probe.stderr) }).toEqual({ dir, code: 1, error: true });
    }
  });

  it('answers /healthz and /readyz, and the image\'s own HEALTHCHECK passes', async () => {
    expect((await get(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(200);
    await pollUntil(async () => (await get(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200, '/readyz', 30_000);
    // The image's HEALTHCHECK (kept by building in Docker format), run by podman inside the container.
    const [info] = JSON.parse(await must([...PODMAN, 'inspect', name])) as Array<{
      Config: { Healthcheck?: { Test?: string[] } };
      State: { Health?: { Status?: string }; Healthcheck?: { Status?: string } };
    }>;
    expect(info!.Config.Healthcheck?.Test?.join(' ')).toMatch(/\/healthz/);
    const health = await exec([...PODMAN, 'healthcheck', 'run', name]);
    expect({ code: health.code, stderr: health.stderr.trim() }).toEqual({ code: 0, stderr: '' });
    const [after] = JSON.parse(await must([...PODMAN, 'inspect', name])) as typeof info[];
    expect(after!.State.Health?.Status ?? after!.State.Healthcheck?.Status).toBe('healthy');
  });

  it('logs a client in through the container to Prosody, and it messages itself', async () => {
    const account = prosody.accounts[0]!;
    const s = await login(`ws://127.0.0.1:${port}/xmpp-websocket`, {
      domain: prosody.domain,
      username: account.username,
      password: account.password,
      mechanism: 'PLAIN',
      resource: 'container',
    });
    try {
      expect(s.jid).toBe(`${account.jid}/container`);
      s.send(`<message xmlns='jabber:client' to='${s.jid}' id='m1' type='chat'><body>through the container ✓</body></message>`);
      const echoed = await s.waitFor(is.message, 'the message back', 10_000);
      expect(echoed.getChildText('body')).toBe('through the container ✓');
    } finally {
      await s.close();
    }
  });

  it('drains on podman stop (SIGTERM) and exits 0', async () => {
    await must([...PODMAN, 'stop', '--time', '30', name], { timeoutMs: 60_000 });
    expect(await inspect('{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 0');
    expect(await logs()).toMatch(/drain/i);
  });
});
