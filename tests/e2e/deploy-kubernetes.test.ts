/**
 * deploy/kubernetes/*.yaml, without a cluster:
 * - every object is validated against the Kubernetes OpenAPI schema (kubernetes-models: types,
 *   required fields, enums, formats), and type-checked against the same models' TypeScript
 *   declarations, whose excess-property check catches misspelt or misplaced fields (what
 *   `kubectl apply --validate=strict` reports and the JSON schema lets through);
 * - the invariants between them: probes on the metrics port at /readyz and /healthz, container ports
 *   equal to the addresses the gateway will really listen on (its own config parser, fed the image's
 *   ENV from deploy/Dockerfile plus the container's env, args and mounted ConfigMap), grace period
 *   above preStop + --drain-timeout + margin, one image tag everywhere and equal to the package
 *   version, Service target ports that exist, non-root read-only containers, resources set;
 * - the sidecar pair for real: sidecar.yaml's Prosody configuration (ports and paths substituted) and
 *   configmap.yaml's gateway settings, the gateway started as the container would start it, and a
 *   login through it with the demo's try-client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { DockerfileParser, type Env } from 'dockerfile-ast';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { parseCli, SETTINGS, type Config } from '../../src/config';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { tryGateway } from '../../tools/demo/try-client';
import { httpGet as get, freePorts } from '../helpers/net';

const ROOT = join(__dirname, '..', '..');
const DIR = join(ROOT, 'deploy', 'kubernetes');
const FILES = ['deployment.yaml', 'sidecar.yaml', 'configmap.yaml'];
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

/** apiVersion/kind → the schema-validating model and its TypeScript declaration. */
const MODELS: Record<string, { validate: (o: K8sObject) => void; module: string; type: string }> = {
  'v1/ConfigMap': { validate: (o) => new ConfigMap(o as never).validate(), module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Service': { validate: (o) => new Service(o as never).validate(), module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/Deployment': { validate: (o) => new Deployment(o as never).validate(), module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'apps/v1/StatefulSet': { validate: (o) => new StatefulSet(o as never).validate(), module: 'kubernetes-models/apps/v1/StatefulSet', type: 'IStatefulSet' },
  'policy/v1/PodDisruptionBudget': { validate: (o) => new PodDisruptionBudget(o as never).validate(), module: 'kubernetes-models/policy/v1/PodDisruptionBudget', type: 'IPodDisruptionBudget' },
};

function load(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as K8sObject;
  });
}

const objects = Object.fromEntries(FILES.map((f) => [f, load(f)])) as Record<string, K8sObject[]>;
const all = FILES.flatMap((f) => objects[f]!.map((o) => ({ file: f, o })));
const find = (file: string, kind: string, name?: string): K8sObject => {
  const o = objects[file]!.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (o === undefined) throw new Error(`${file}: no ${kind}${name ? ` ${name}` : ''}`);
  return o;
};
const podSpec = (o: K8sObject): IPodSpec => (o.spec as { template: { spec: IPodSpec } }).template.spec;
const gatewayContainer = (o: K8sObject): IContainer => {
  const c = podSpec(o).containers.find((x) => x.name === 'xmpp-ws-gateway');
  if (c === undefined) throw new Error(`${o.kind} ${o.metadata.name}: no container named xmpp-ws-gateway`);
  return c;
};

/** The final stage's ENV of deploy/Dockerfile: what every container of the image starts with. */
function imageEnv(): Record<string, string> {
  const df = DockerfileParser.parse(readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8'));
  const froms = df.getFROMs();
  const finalLine = froms[froms.length - 1]!.getRange().start.line;
  const env: Record<string, string> = {};
  for (const e of df.getENVs() as Env[]) {
    if (e.getRange().start.line < finalLine) continue;
    for (const p of e.getProperties()) env[p.getName()] = p.getValue() ?? '';
  }
  return env;
}

/** The ConfigMap key a `--config` path in this container resolves to, through its volume mounts. */
function mountedConfig(spec: IPodSpec, c: IContainer): { map: string; key: string; path: string } | null {
  const args = c.args ?? [];
  const i = args.indexOf('--config');
  if (i < 0) return null;
  const path = args[i + 1]!;
  const mount = (c.volumeMounts ?? []).find((m) => m.subPath === undefined && posix.dirname(path) === m.mountPath);
  if (mount === undefined) throw new Error(`--config ${path}: no volume mounted at ${posix.dirname(path)}`);
  const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
  if (volume?.configMap?.name === undefined) throw new Error(`--config ${path}: volume ${mount.name} is not a ConfigMap`);
  return { map: volume.configMap.name, key: posix.basename(path), path };
}

function configMapData(name: string, key: string): string {
  for (const { o } of all) if (o.kind === 'ConfigMap' && o.metadata.name === name && o.data?.[key] !== undefined) return o.data[key]!;
  throw new Error(`ConfigMap ${name} with key ${key} is not in deploy/kubernetes/`);
}

/**
 * The configuration the gateway would run with in this container: the image's ENV, then the
 * container's env, its args, and the mounted config file (written to `dir` for the parser).
 */
function effectiveConfig(o: K8sObject, dir: string): { config: Config; file: string | null; env: Record<string, string>; args: string[] } {
  const spec = podSpec(o);
  const c = gatewayContainer(o);
  const env = { ...imageEnv() };
  for (const e of c.env ?? []) {
    if (e.value === undefined) throw new Error(`env ${e.name}: only literal values are checked`);
    env[e.name] = e.value;
  }
  let args = [...(c.args ?? [])];
  let file: string | null = null;
  const mounted = mountedConfig(spec, c);
  if (mounted !== null) {
    file = join(dir, `${o.metadata.name}-${mounted.key}`);
    writeFileSync(file, configMapData(mounted.map, mounted.key));
    args = args.map((a) => (a === mounted.path ? file! : a));
  }
  const cli = parseCli(args, env);
  if (cli.kind !== 'run') throw new Error(`${o.metadata.name}: args make the gateway ${cli.kind}, not run`);
  return { config: cli.config, file, env, args };
}

const portNamed = (c: IContainer, name: string): number => {
  const p = (c.ports ?? []).find((x) => x.name === name);
  if (p === undefined) throw new Error(`container ${c.name}: no port named ${name}`);
  return p.containerPort;
};
const preStopSleep = (c: IContainer): number => {
  const cmd = c.lifecycle?.preStop?.exec?.command ?? [];
  return cmd[0] === 'sleep' ? Number(cmd[1]) : 0;
};

/** Excess-property check of every object against the models' TypeScript declarations. */
function typeCheck(docs: Array<{ file: string; o: K8sObject }>): string[] {
  const virtual = join(ROOT, 'tests', 'e2e', '__deploy_kubernetes_objects__.ts');
  const source = docs
    .map(({ file, o }, i) => {
      const m = MODELS[`${o.apiVersion}/${o.kind}`]!;
      return `// ${file}: ${o.kind} ${o.metadata.name}\nexport const o${i}: import(${JSON.stringify(m.module)}).${m.type} = ${JSON.stringify(o, null, 2)};\n`;
    })
    .join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, types: [], skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => f === virtual || fileExists.call(host, f);
  host.readFile = (f) => (f === virtual ? source : readFile.call(host, f));
  host.getSourceFile = (f, lang, ...rest) => (f === virtual ? ts.createSourceFile(f, source, lang) : getSourceFile.call(host, f, lang, ...rest));
  const program = ts.createProgram([virtual], options, host);
  const lines = source.split('\n');
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : null;
    let owner = '';
    if (where !== null && d.file?.fileName === virtual) {
      for (let l = where.line; l >= 0; l--) if (lines[l]!.startsWith('// ')) { owner = lines[l]!.slice(3); break; }
    }
    return `${owner}: line ${where ? where.line + 1 : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

// ---------------------------------------------------------------- schema

describe('deploy/kubernetes: the Kubernetes schema', () => {
  it('holds the expected objects', () => {
    expect(all.map(({ file, o }) => `${file}: ${o.apiVersion} ${o.kind} ${o.metadata.name}`)).toEqual([
      'deployment.yaml: apps/v1 Deployment xmpp-ws-gateway',
      'deployment.yaml: v1 Service xmpp-ws-gateway',
      'deployment.yaml: policy/v1 PodDisruptionBudget xmpp-ws-gateway',
      'sidecar.yaml: v1 ConfigMap prosody-config',
      'sidecar.yaml: apps/v1 StatefulSet prosody',
      'sidecar.yaml: v1 Service prosody',
      'configmap.yaml: v1 ConfigMap xmpp-ws-gateway-config',
    ]);
  });

  it.each(all.map(({ file, o }) => [`${file}: ${o.kind} ${o.metadata.name}`, o] as const))('%s validates against the OpenAPI schema', (_, o) => {
    const model = MODELS[`${o.apiVersion}/${o.kind}`];
    expect(model).toBeDefined();
    expect(() => model!.validate(o)).not.toThrow();
  });

  it('has no field the Kubernetes types do not know (strict validation)', () => {
    expect(typeCheck(all)).toEqual([]);
  }, 60_000);

  it('catches a misspelt field and a wrong type (the checks are live)', () => {
    const d = structuredClone(find('deployment.yaml', 'Deployment'));
    (podSpec(d).containers[0] as unknown as Record<string, unknown>).readinesProbe = podSpec(d).containers[0]!.readinessProbe;
    expect(typeCheck([{ file: 'mutated', o: d }]).join('\n')).toMatch(/readinesProbe/);
    const s = structuredClone(find('deployment.yaml', 'Service'));
    (s.spec as { ports: Array<{ port: unknown }> }).ports[0]!.port = 'http';
    expect(() => MODELS['v1/Service']!.validate(s)).toThrow(/port/);
  }, 60_000);
});

// ---------------------------------------------------------------- invariants

describe('deploy/kubernetes: invariants', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'xmppgw-k8s-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const workloads = (): K8sObject[] => [find('deployment.yaml', 'Deployment'), find('sidecar.yaml', 'StatefulSet')];

  it('runs one image, tagged with the package version, everywhere', () => {
    const images = workloads().map((o) => gatewayContainer(o).image);
    expect(new Set(images)).toEqual(new Set([`xmpp-ws-gateway:${pkg.version}`]));
    const labelled = find('deployment.yaml', 'Deployment').metadata.labels?.['app.kubernetes.io/version'];
    expect(labelled).toBe(pkg.version);
  });

  it.each([['deployment.yaml'], ['sidecar.yaml']])('%s: probes hit /readyz and /healthz on the port the metrics listener really binds', (file) => {
    const o = workloads().find((w) => objects[file]!.includes(w))!;
    const c = gatewayContainer(o);
    const { config } = effectiveConfig(o, dir);
    expect(config.metricsListen).not.toBeNull();
    expect(config.metricsListen!.host).toBe('0.0.0.0');
    expect(portNamed(c, 'metrics')).toBe(config.metricsListen!.port);
    expect(config.listen.host).toBe('0.0.0.0');
    expect(portNamed(c, 'websocket')).toBe(config.listen.port);
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    // Readiness reacts faster than liveness, and liveness gives a busy process room.
    expect(c.readinessProbe!.periodSeconds!).toBeLessThanOrEqual(c.livenessProbe!.periodSeconds!);
    expect(c.livenessProbe!.failureThreshold! * c.livenessProbe!.periodSeconds!).toBeGreaterThanOrEqual(20);
    // Prometheus annotations name the same port and path.
    const annotations = (o.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(config.metricsListen!.port), 'prometheus.io/path': '/metrics' });
  });

  it.each([['deployment.yaml'], ['sidecar.yaml']])('%s: the grace period covers preStop + --drain-timeout + a margin', (file) => {
    const o = workloads().find((w) => objects[file]!.includes(w))!;
    const spec = podSpec(o);
    const c = gatewayContainer(o);
    const { config } = effectiveConfig(o, dir);
    const needed = preStopSleep(c) + config.drainTimeoutMs / 1000 + 5;
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(needed);
    // Beside Prosody, Prosody must outlive the gateway's drain and still stop within the grace period.
    for (const other of spec.containers.filter((x) => x.name !== 'xmpp-ws-gateway')) {
      expect(preStopSleep(other)).toBeGreaterThanOrEqual(preStopSleep(c) + config.drainTimeoutMs / 1000);
      expect(preStopSleep(other)).toBeLessThan(spec.terminationGracePeriodSeconds!);
    }
  });

  it.each([['deployment.yaml'], ['sidecar.yaml']])('%s: the gateway runs non-root, read-only, unprivileged, with resources set', (file) => {
    const o = workloads().find((w) => objects[file]!.includes(w))!;
    const spec = podSpec(o);
    const c = gatewayContainer(o);
    const sc = { ...spec.securityContext, ...c.securityContext };
    expect(sc.runAsNonRoot).toBe(true);
    // The image's USER 1000:1000 (numeric, so the kubelet can verify runAsNonRoot).
    expect(sc.runAsUser).toBe(1000);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    expect(c.resources?.requests).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
    expect(c.resources?.limits).toEqual(expect.objectContaining({ memory: expect.anything() }));
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  it('Deployment: workers match the CPU limit, selectors match, Services target named ports that exist', () => {
    const d = find('deployment.yaml', 'Deployment');
    const c = gatewayContainer(d);
    const { config } = effectiveConfig(d, dir);
    expect(config.workers).toBe(Number(c.resources!.limits!.cpu));
    expect(config.upstream.port).toBe(5222);
    expect(config.redirectUri).toMatch(/^wss:\/\//);
    const labels = (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    const selector = (d.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
    expect(labels).toMatchObject(selector);
    for (const [file, workload] of [['deployment.yaml', d], ['sidecar.yaml', find('sidecar.yaml', 'StatefulSet')]] as const) {
      const svc = find(file, 'Service');
      const svcSelector = (svc.spec as { selector: Record<string, string> }).selector;
      const podLabels = (workload.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      expect(podLabels).toMatchObject(svcSelector);
      const ports = (svc.spec as { ports: Array<{ targetPort: string | number }> }).ports;
      // Only the WebSocket port is published; metrics stay on the pod.
      expect(ports.map((p) => p.targetPort)).toEqual(['websocket']);
      expect(portNamed(gatewayContainer(workload), 'websocket')).toBe(5280);
    }
    const pdb = find('deployment.yaml', 'PodDisruptionBudget');
    expect((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels).toEqual(selector);
  });

  it('sidecar: the ConfigMap parses with the gateway parser, reaches Prosody on 127.0.0.1:5222, and no key is overridden by the environment', () => {
    const s = find('sidecar.yaml', 'StatefulSet');
    const { config, file } = effectiveConfig(s, dir);
    expect(file).not.toBeNull();
    expect(config.upstream).toEqual({ host: '127.0.0.1', port: 5222 });
    // Each setting in the file is the value the gateway runs with: none is shadowed by the image's or
    // the container's environment (precedence: flags, environment, file).
    const fileOnly = parseCli(['--config', file!], {});
    if (fileOnly.kind !== 'run') throw new Error(fileOnly.kind);
    const keys = Object.keys(parseYaml(readFileSync(file!, 'utf8')) as Record<string, unknown>);
    expect(keys.length).toBeGreaterThan(5);
    for (const key of keys) {
      const prop = SETTINGS.find((x) => x.flag === key)!.key;
      expect(`${key}: ${JSON.stringify(config[prop])}`).toBe(`${key}: ${JSON.stringify(fileOnly.config[prop])}`);
    }
    // And Prosody listens where the gateway looks.
    const lua = configMapData('prosody-config', 'prosody.cfg.lua');
    expect(lua).toMatch(/^c2s_ports = \{ 5222 \}$/m);
    expect(lua).toMatch(/^c2s_interfaces = \{ "127\.0\.0\.1" \}$/m);
    expect(lua).toMatch(/^c2s_require_encryption = false$/m);
    // Prosody's HTTP server is off the gateway's port.
    expect(lua).not.toMatch(new RegExp(`http_ports = \\{[^}]*\\b${config.listen.port}\\b`));
  });
});

// ---------------------------------------------------------------- the sidecar pair, for real



describe('deploy/kubernetes/sidecar.yaml + configmap.yaml, run for real', () => {
  let dir: string;
  let prosody: ProsodyInstance;
  let gateway: ChildProcess | null = null;
  let out = '';
  let port: number;
  let opsPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xmppgw-sidecar-'));
    const s = find('sidecar.yaml', 'StatefulSet');
    const lua = configMapData('prosody-config', 'prosody.cfg.lua');
    const [global, vhost] = lua.split(/^(?=VirtualHost )/m) as [string, string];
    const domain = /^VirtualHost "([^"]+)"/.exec(vhost)![1]!;
    const [c2sPort, httpPort] = await freePorts(2);
    // The shipped global section (it overrides the launcher's own settings), with the pod's ports moved
    // to free ones, the launcher's temp data directory and log file, and mod_websocket added: the
    // launcher waits for Prosody's HTTP port to answer before it returns.
    const extraConfig = global
      .replace('c2s_ports = { 5222 }', `c2s_ports = { ${c2sPort} }`)
      .replace('http_ports = { 5380 }', `http_ports = { ${httpPort} }`)
      .replace('modules_enabled = {', 'modules_enabled = { "websocket";')
      .replace(/^data_path = .*$/m, '')
      .replace(/^log = .*$/m, '');
    expect(extraConfig).not.toMatch(/(?<!\d)(?:5222|5380)(?!\d)|\/var\/lib|to = "console"/);
    expect(extraConfig).toContain('"websocket";');
    prosody = await startProsody({ domain, c2sPort, httpPort, extraConfig, accounts: [{ username: 'alice' }] });

    // The gateway container: the image's ENV, the container's env and args, the mounted file, with
    // only the addresses moved to 127.0.0.1 and random ports.
    const { env, args, file } = effectiveConfig(s, dir);
    writeFileSync(file!, readFileSync(file!, 'utf8').replace('upstream: 127.0.0.1:5222', `upstream: 127.0.0.1:${c2sPort}`));
    [port, opsPort] = await freePorts(2);
    gateway = spawn(process.execPath, [join(ROOT, 'bin', 'xmpp-ws-gateway.js'), ...args], {
      cwd: dirname(file!),
      env: { PATH: process.env.PATH, ...env, XMPP_WS_GATEWAY_LISTEN: `127.0.0.1:${port}`, XMPP_WS_GATEWAY_METRICS_LISTEN: `127.0.0.1:${opsPort}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gateway.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    gateway.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!out.includes('"event":"ops_listening"')) {
      if (gateway.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 60_000);

  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((r) => gateway!.once('exit', r));
      gateway.kill('SIGKILL');
      await exited;
    }
    await prosody?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Prosody with the shipped configuration loads every module it lists', () => {
    const log = readFileSync(prosody.logFile, 'utf8');
    expect(log.split('\n').filter((l) => /\b(error|Unable to load|module not found)\b/i.test(l))).toEqual([]);
  });

  it('is ready, and a client logs in through the gateway with the mounted settings', async () => {
    const deadline = Date.now() + 10_000;
    let ready = await get(`http://127.0.0.1:${opsPort}/readyz`);
    while (ready.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      ready = await get(`http://127.0.0.1:${opsPort}/readyz`);
    }
    expect(ready.status).toBe(200);
    const [alice] = prosody.accounts;
    const lines: string[] = [];
    await tryGateway(`ws://127.0.0.1:${port}/xmpp-websocket`, alice!.jid, alice!.password, (l) => lines.push(l));
    expect(lines[lines.length - 1]).toMatch(new RegExp(`^OK: logged in as alice@${prosody.domain.replace(/\./g, '\\.')}/try`));
    // The mounted file's upstream is the one in force.
    const listening = JSON.parse(out.split('\n').find((l) => l.includes('"event":"listening"'))!) as Record<string, unknown>;
    expect(listening.upstream).toBe(`127.0.0.1:${prosody.c2sPort}`);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => gateway!.once('exit', (code) => r(code)));
    gateway!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/"event":"stopped"/);
  }, 40_000);
});
