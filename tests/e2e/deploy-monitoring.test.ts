/**
 * deploy/prometheus/{prometheus.yml,alerts.yml}, grafana/dashboards/xmpp-ws-gateway.json and
 * grafana/provisioning/*:
 * - promtool (Debian's `prometheus` package) checks the scrape config and the rules, and unit-tests
 *   every alert on small series (`promtool test rules`): when it fires, with which labels, and when not;
 * - every metric name in an alert or a dashboard query (parsed with the Prometheus project's own PromQL
 *   grammar, @prometheus-io/lezer-promql) exists in the /metrics of a real gateway: the CLI started
 *   with --workers 2, so the cluster primary's metrics are there too;
 * - the dashboard is valid JSON with unique panel ids, panels that do not overlap, one data source
 *   variable, and covers every metric family asked of it; every query parses in promtool too;
 * - Prometheus itself runs with the shipped scrape job (host part) against that gateway after a real
 *   login through it: the target is up, every alert rule evaluates without error, and every dashboard
 *   query runs without error.
 * Debian's Prometheus 2.42 is built without Kubernetes service discovery, so the kubernetes_sd_configs
 * block is checked by promtool where the build has it and otherwise by the field list of the upstream
 * documentation, then left out for the rest.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { tryGateway } from '../../tools/demo/try-client';
import { parseCli } from '../../src/config';
import { httpGet as get, freePorts } from '../helpers/net';
import { PROMETHEUS, PROMTOOL, PROM_DIR, startPrometheus, until, withoutKubernetesSd, type RunningPrometheus, type ScrapeConfig } from '../helpers/prometheus';
import { stopChild } from '../helpers/processes';

const ROOT = join(__dirname, '..', '..');
const DASHBOARD = join(ROOT, 'grafana', 'dashboards', 'xmpp-ws-gateway.json');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string; refId: string; datasource?: { type: string; uid: string } }>;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown; datasource?: { uid: string } }> };
}

const alerts = parseYaml(readFileSync(join(PROM_DIR, 'alerts.yml'), 'utf8')) as RuleFile;
const scrapeConfig = parseYaml(readFileSync(join(PROM_DIR, 'prometheus.yml'), 'utf8')) as ScrapeConfig;
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const dashboardQueries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** Grafana's variables replaced by values Prometheus accepts (what Grafana does before it queries). */
const grafanaToPromQL = (expr: string): string => expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s').replace(/\$(job|instance)\b/g, '.+');

/** Metric names of a PromQL expression, from the Prometheus project's grammar; throws on a syntax error. */
function metricNames(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  let error: number | null = null;
  tree.iterate({
    enter(node) {
      if (node.type.isError && error === null) error = node.from;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(expr.slice(node.from, node.to));
    },
  });
  if (error !== null) throw new Error(`PromQL syntax error at ${error} in: ${expr}`);
  return names;
}

function promtool(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync(PROMTOOL!, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}


describe('deploy/prometheus and grafana', () => {
  let dir: string;
  let prosody: ProsodyInstance;
  let gateway: ChildProcess | null = null;
  let gatewayOut = '';
  let port: number;
  let opsPort: number;
  /** Sample names the real gateway exposes (histograms with _bucket, _sum, _count). */
  let exposed: Set<string>;
  let kubernetesSdInPromtool: boolean;

  beforeAll(async () => {
    if (PROMTOOL === undefined || PROMETHEUS === undefined) throw new Error('promtool/prometheus are not installed: run `npm run test:deps` (installs Debian prometheus)');
    dir = mkdtempSync(join(tmpdir(), 'xmppgw-monitoring-'));
    prosody = await startProsody({ accounts: [{ username: 'alice' }] });
    [port, opsPort] = await freePorts(2);
    gateway = spawn(process.execPath, [join(ROOT, 'bin', 'xmpp-ws-gateway.js'), '--workers', '2', '--drain-timeout', '0'], {
      env: {
        PATH: process.env.PATH,
        XMPP_WS_GATEWAY_LISTEN: `127.0.0.1:${port}`,
        XMPP_WS_GATEWAY_METRICS_LISTEN: `127.0.0.1:${opsPort}`,
        XMPP_WS_GATEWAY_UPSTREAM: `127.0.0.1:${prosody.c2sPort}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gateway.stdout!.on('data', (d: Buffer) => (gatewayOut += d.toString()));
    gateway.stderr!.on('data', (d: Buffer) => (gatewayOut += d.toString()));
    await until(`the gateway to serve (${gatewayOut})`, async () => (gatewayOut.includes('"event":"cluster_ready"') ? true : undefined));
    // A real session first: histograms whose label values are only created by a first observation
    // (relay latency, element size) appear after it.
    const [alice] = prosody.accounts;
    await tryGateway(`ws://127.0.0.1:${port}/xmpp-websocket`, alice!.jid, alice!.password, () => undefined);
    const metrics = (await get(`http://127.0.0.1:${opsPort}/metrics`)).body;
    exposed = new Set(metrics.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]));
    kubernetesSdInPromtool = !/field kubernetes_sd_configs not found/.test(promtool(['check', 'config', join(PROM_DIR, 'prometheus.yml')], PROM_DIR).out);
  }, 60_000);

  afterAll(async () => {
    await stopChild(gateway);
    await prosody?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // ---------------------------------------------------------------- Prometheus files

  describe('deploy/prometheus', () => {
    it('prometheus.yml passes promtool check config', () => {
      if (kubernetesSdInPromtool) {
        const r = promtool(['check', 'config', 'prometheus.yml'], PROM_DIR);
        expect(r.status).toBe(0);
        return;
      }
      // This build lacks Kubernetes SD: check everything else with promtool, beside the same rules.
      const sub = join(dir, 'check-config');
      spawnSync('mkdir', ['-p', sub]);
      // The targets file of a host install, so promtool does not warn that it is missing.
      const config = withoutKubernetesSd(scrapeConfig);
      const fileSd = config.scrape_configs[0]!.file_sd_configs as Array<{ files: string[] }>;
      fileSd[0]!.files = [join(sub, 'xmpp-ws-gateway.yml')];
      writeFileSync(join(sub, 'xmpp-ws-gateway.yml'), stringify([{ targets: ['10.0.0.5:9464'] }]));
      writeFileSync(join(sub, 'prometheus.yml'), stringify(config));
      copyFileSync(join(PROM_DIR, 'alerts.yml'), join(sub, 'alerts.yml'));
      const r = promtool(['check', 'config', 'prometheus.yml'], sub);
      expect(r.out).toMatch(/SUCCESS: 11 rules found/);
      expect(r.out).not.toMatch(/FAILED|WARNING/);
      expect(r.status).toBe(0);
    });

    it('its Kubernetes discovery selects the gateway container by name and port name', () => {
      const job = scrapeConfig.scrape_configs.find((j) => j.job_name === 'xmpp-ws-gateway')!;
      expect(job.metrics_path).toBe('/metrics');
      // The fields of kubernetes_sd_configs (prometheus.io/docs/prometheus/latest/configuration/configuration/#kubernetes_sd_config).
      const sd = job.kubernetes_sd_configs as Array<Record<string, unknown>>;
      for (const c of sd) {
        for (const key of Object.keys(c)) expect(['api_server', 'role', 'kubeconfig_file', 'namespaces', 'selectors', 'attach_metadata', 'basic_auth', 'authorization', 'oauth2', 'proxy_url', 'follow_redirects', 'enable_http2', 'tls_config']).toContain(key);
        expect(['node', 'service', 'pod', 'endpoints', 'endpointslice', 'ingress']).toContain(c.role);
      }
      const keep = (job.relabel_configs as Array<{ source_labels?: string[]; regex?: string; action?: string }>).find((r) => r.action === 'keep')!;
      expect(keep.source_labels).toEqual(['__meta_kubernetes_pod_container_name', '__meta_kubernetes_pod_container_port_name']);
      // The names deploy/kubernetes gives the gateway container and its metrics port.
      const re = new RegExp(`^(?:${keep.regex})$`);
      expect(re.test('xmpp-ws-gateway;metrics')).toBe(true);
      expect(re.test('xmpp-ws-gateway;websocket')).toBe(false);
      expect(re.test('prosody;metrics')).toBe(false);
      expect(re.test(';')).toBe(true);
      for (const file of ['deployment.yaml', 'sidecar.yaml']) {
        const text = readFileSync(join(ROOT, 'deploy', 'kubernetes', file), 'utf8');
        expect(text).toMatch(/- name: xmpp-ws-gateway\n\s+image:/);
        expect(text).toMatch(/- name: metrics\n\s+containerPort: 9464/);
      }
    });

    it('alerts.yml passes promtool check rules', () => {
      const r = promtool(['check', 'rules', 'alerts.yml'], PROM_DIR);
      expect(r.out).toMatch(/SUCCESS: 11 rules found/);
      expect(r.status).toBe(0);
    });

    it('every alert has a severity, a summary and a description', () => {
      for (const g of alerts.groups) {
        for (const rule of g.rules) {
          expect(rule.alert).toMatch(/^XmppWsGateway[A-Z]\w+$/);
          expect(['warning', 'critical']).toContain(rule.labels?.severity);
          expect(rule.annotations?.summary).toBeTruthy();
          expect(rule.annotations?.description).toBeTruthy();
        }
      }
    });

    it('every metric an alert uses is one the gateway exposes (up and kube-state-metrics aside)', () => {
      const missing: string[] = [];
      for (const g of alerts.groups) {
        for (const rule of g.rules) {
          for (const name of metricNames(rule.expr)) {
            // `up` is Prometheus's own; kube_* comes from kube-state-metrics, only in the Kubernetes group.
            if (name === 'up' || (g.name === 'xmpp-ws-gateway-kubernetes' && /^kube_/.test(name))) continue;
            if (!exposed.has(name)) missing.push(`${rule.alert}: ${name}`);
          }
        }
      }
      expect(missing).toEqual([]);
      // The gateway's own group uses the gateway's own metrics only.
      expect(alerts.groups[0]!.rules.flatMap((r) => metricNames(r.expr)).filter((n) => /^kube_/.test(n))).toEqual([]);
    });

    it('the connection-limit alert uses the --max-connections of deploy/kubernetes', () => {
      const rule = alerts.groups[0]!.rules.find((r) => r.alert === 'XmppWsGatewayConnectionsNearLimit')!;
      const limit = Number(/0\.8 \* (\d+) \*/.exec(rule.expr)![1]);
      const deployment = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'deployment.yaml'), 'utf8');
      expect(Number(/name: XMPP_WS_GATEWAY_MAX_CONNECTIONS\n\s+value: "(\d+)"/.exec(deployment)![1])).toBe(limit);
      const configMap = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'configmap.yaml'), 'utf8'))[0]!.toJS() as { data: Record<string, string> };
      const file = join(dir, 'gateway.yaml');
      writeFileSync(file, configMap.data['gateway.yaml']!);
      const cli = parseCli(['--config', file], {});
      expect(cli.kind === 'run' && cli.config.maxConnections).toBe(limit);
    });

    it('each alert fires when it should, with the expected labels, and not otherwise (promtool test rules)', () => {
      // Annotations are left out here (promtool would compare their text verbatim); check rules has
      // already parsed their templates.
      const rules: RuleFile = { groups: alerts.groups.map((g) => ({ name: g.name, rules: g.rules.map(({ annotations: _, ...r }) => r) })) };
      writeFileSync(join(dir, 'alerts.yml'), stringify(rules));
      const gw = (instance: string, extra = ''): string => `job="xmpp-ws-gateway", instance="${instance}"${extra}`;
      const alert = (labels: Record<string, string>, severity = 'warning'): Record<string, unknown> => ({ exp_labels: { severity, ...labels } });
      const A = { job: 'xmpp-ws-gateway', instance: 'gw-a:9464' };
      const tests = [
        {
          name: 'down and absent',
          interval: '1m',
          input_series: [
            { series: `up{${gw('gw-a:9464')}}`, values: '1 1 0 0 0 0 0 0' },
            { series: `up{${gw('gw-b:9464')}}`, values: '1 1 1 1 1 1 1 1' },
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'XmppWsGatewayDown', exp_alerts: [] },
            { eval_time: '6m', alertname: 'XmppWsGatewayDown', exp_alerts: [alert(A, 'critical')] },
            { eval_time: '6m', alertname: 'XmppWsGatewayAbsent', exp_alerts: [] },
          ],
        },
        {
          name: 'no target at all',
          interval: '1m',
          input_series: [{ series: 'some_other_metric', values: '1x15' }],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'XmppWsGatewayAbsent', exp_alerts: [] },
            { eval_time: '12m', alertname: 'XmppWsGatewayAbsent', exp_alerts: [alert({ job: 'xmpp-ws-gateway' })] },
          ],
        },
        {
          name: 'upstream connect failures: 14% on gw-a, 1% on gw-b',
          interval: '1m',
          input_series: [
            { series: `xmppgw_upstream_connect_duration_seconds_count{${gw('gw-a:9464', ', result="ok"')}}`, values: '0+60x20' },
            { series: `xmppgw_upstream_connect_duration_seconds_count{${gw('gw-a:9464', ', result="refused"')}}`, values: '0+10x20' },
            { series: `xmppgw_upstream_connect_duration_seconds_count{${gw('gw-b:9464', ', result="ok"')}}`, values: '0+100x20' },
            { series: `xmppgw_upstream_connect_duration_seconds_count{${gw('gw-b:9464', ', result="timeout"')}}`, values: '0+1x20' },
          ],
          alert_rule_test: [
            { eval_time: '4m', alertname: 'XmppWsGatewayUpstreamConnectFailures', exp_alerts: [] },
            { eval_time: '15m', alertname: 'XmppWsGatewayUpstreamConnectFailures', exp_alerts: [alert(A, 'critical')] },
          ],
        },
        {
          name: 'gateway stream errors, but not system-shutdown, and internal errors at once',
          interval: '1m',
          input_series: [
            { series: `xmppgw_stream_errors_total{${gw('gw-a:9464', ', origin="gateway", condition="remote-connection-failed"')}}`, values: '0+30x25' },
            { series: `xmppgw_stream_errors_total{${gw('gw-a:9464', ', origin="gateway", condition="system-shutdown"')}}`, values: '0+600x25' },
            { series: `xmppgw_stream_errors_total{${gw('gw-a:9464', ', origin="client", condition="not-well-formed"')}}`, values: '0+600x25' },
            { series: `xmppgw_stream_errors_total{${gw('gw-a:9464', ', origin="gateway", condition="internal-server-error"')}}`, values: '0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1' },
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'XmppWsGatewayStreamErrors', exp_alerts: [] },
            { eval_time: '20m', alertname: 'XmppWsGatewayStreamErrors', exp_alerts: [alert({ ...A, condition: 'remote-connection-failed' })] },
            { eval_time: '4m', alertname: 'XmppWsGatewayInternalErrors', exp_alerts: [] },
            { eval_time: '6m', alertname: 'XmppWsGatewayInternalErrors', exp_alerts: [alert(A)] },
          ],
        },
        {
          name: 'event-loop lag on gw-a only',
          interval: '1m',
          input_series: [
            { series: `nodejs_eventloop_lag_p99_seconds{${gw('gw-a:9464')}}`, values: '0.3x10' },
            { series: `nodejs_eventloop_lag_p99_seconds{${gw('gw-b:9464')}}`, values: '0.01x10' },
          ],
          alert_rule_test: [
            { eval_time: '2m', alertname: 'XmppWsGatewayEventLoopLag', exp_alerts: [] },
            { eval_time: '8m', alertname: 'XmppWsGatewayEventLoopLag', exp_alerts: [alert(A)] },
          ],
        },
        {
          name: 'connections near the limit: one process, and two workers',
          interval: '1m',
          input_series: [
            // Single process: 8500 of 10000.
            { series: `xmppgw_connections{${gw('gw-a:9464', ', state="open"')}}`, values: '8500x10' },
            { series: `xmppgw_build_info{${gw('gw-a:9464', ', version="0.1.0"')}}`, values: '1x10' },
            // Two workers (build_info is summed over them): 9000 of 20000 is fine.
            { series: `xmppgw_connections{${gw('gw-b:9464', ', state="open"')}}`, values: '9000x10' },
            { series: `xmppgw_workers{${gw('gw-b:9464')}}`, values: '2x10' },
            { series: `xmppgw_build_info{${gw('gw-b:9464', ', version="0.1.0"')}}`, values: '2x10' },
            // Two workers, 17000 of 20000.
            { series: `xmppgw_connections{${gw('gw-c:9464', ', state="open"')}}`, values: '16000x10' },
            { series: `xmppgw_connections{${gw('gw-c:9464', ', state="connecting"')}}`, values: '1000x10' },
            { series: `xmppgw_workers{${gw('gw-c:9464')}}`, values: '2x10' },
            { series: `xmppgw_build_info{${gw('gw-c:9464', ', version="0.1.0"')}}`, values: '2x10' },
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'XmppWsGatewayConnectionsNearLimit', exp_alerts: [] },
            {
              eval_time: '8m',
              alertname: 'XmppWsGatewayConnectionsNearLimit',
              exp_alerts: [alert(A), alert({ ...A, instance: 'gw-c:9464' })],
            },
          ],
        },
        {
          name: 'handshakes refused over the limit',
          interval: '1m',
          input_series: [
            { series: `xmppgw_ws_handshakes_total{${gw('gw-a:9464', ', result="over_limit"')}}`, values: '0+6x20' },
            { series: `xmppgw_ws_handshakes_total{${gw('gw-b:9464', ', result="accepted"')}}`, values: '0+600x20' },
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'XmppWsGatewayRejectingOverLimit', exp_alerts: [] },
            { eval_time: '12m', alertname: 'XmppWsGatewayRejectingOverLimit', exp_alerts: [alert(A)] },
          ],
        },
        {
          name: 'one worker restart, and a crash loop',
          interval: '1m',
          input_series: [
            { series: `xmppgw_worker_restarts_total{${gw('gw-a:9464')}}`, values: '0 0 0 1 1 1 1 1 1 1' },
            { series: `xmppgw_worker_restarts_total{${gw('gw-b:9464')}}`, values: '0 0 0 3 6 9 12 15 18 21' },
          ],
          alert_rule_test: [
            { eval_time: '2m', alertname: 'XmppWsGatewayWorkerRestarts', exp_alerts: [] },
            {
              eval_time: '6m',
              alertname: 'XmppWsGatewayWorkerRestarts',
              exp_alerts: [alert(A), alert({ ...A, instance: 'gw-b:9464' })],
            },
            { eval_time: '6m', alertname: 'XmppWsGatewayWorkersCrashLooping', exp_alerts: [alert({ ...A, instance: 'gw-b:9464' }, 'critical')] },
          ],
        },
        {
          name: 'not ready in Kubernetes',
          interval: '1m',
          input_series: [
            { series: 'kube_pod_container_status_ready{namespace="xmpp", pod="xmpp-ws-gateway-a", container="xmpp-ws-gateway"}', values: '1 1 0x10' },
            { series: 'kube_pod_container_status_ready{namespace="xmpp", pod="xmpp-ws-gateway-a", container="other"}', values: '0x12' },
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'XmppWsGatewayNotReady', exp_alerts: [] },
            { eval_time: '9m', alertname: 'XmppWsGatewayNotReady', exp_alerts: [alert({ namespace: 'xmpp', pod: 'xmpp-ws-gateway-a', container: 'xmpp-ws-gateway' })] },
          ],
        },
      ];
      // Every alert is exercised at least once.
      const exercised = new Set(tests.flatMap((t) => t.alert_rule_test.map((a) => a.alertname)));
      expect([...exercised].sort()).toEqual(alerts.groups.flatMap((g) => g.rules.map((r) => r.alert!)).sort());
      writeFileSync(join(dir, 'alerts.test.yml'), stringify({ rule_files: ['alerts.yml'], evaluation_interval: '1m', tests }));
      const r = promtool(['test', 'rules', 'alerts.test.yml'], dir);
      expect(r.out).toMatch(/SUCCESS/);
      expect(r.status).toBe(0);
    });
  });

  // ---------------------------------------------------------------- Grafana files

  describe('grafana', () => {
    it('the dashboard is a Grafana dashboard with unique panel ids and titles, and no overlapping panels', () => {
      expect(dashboard.uid).toBe('xmpp-ws-gateway');
      expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
      const ids = dashboard.panels.map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      const titles = dashboard.panels.map((p) => p.title);
      expect(new Set(titles).size).toBe(titles.length);
      const cells = new Map<string, string>();
      for (const p of dashboard.panels) {
        const { x, y, w, h } = p.gridPos;
        expect(x + w).toBeLessThanOrEqual(24);
        for (let i = x; i < x + w; i++) {
          for (let j = y; j < y + h; j++) {
            const key = `${i},${j}`;
            expect(cells.has(key) ? `${p.title} overlaps ${cells.get(key)}` : '').toBe('');
            cells.set(key, p.title);
          }
        }
        expect(['row', 'stat', 'timeseries']).toContain(p.type);
        if (p.type !== 'row') {
          expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
          expect(p.targets!.length).toBeGreaterThan(0);
          for (const t of p.targets!) expect(t.datasource ?? p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        }
      }
      expect(dashboard.templating.list.map((v) => `${v.name}:${v.type}`)).toEqual(['datasource:datasource', 'job:query', 'instance:query']);
    });

    it('every dashboard query parses, and every metric it names is one the gateway exposes', () => {
      const missing: string[] = [];
      const queries = [
        ...dashboardQueries,
        ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => ({ panel: `$${v.name}`, expr: /label_values\((.*), \w+\)$/.exec((v.query as { query: string }).query)![1]! })),
      ];
      for (const { panel, expr } of queries) {
        for (const name of metricNames(grafanaToPromQL(expr))) if (name !== 'up' && !exposed.has(name)) missing.push(`${panel}: ${name}`);
      }
      expect(missing).toEqual([]);
      // And Prometheus 2.42's own parser accepts each one (as a recording rule).
      const rules = { groups: [{ name: 'dashboard', rules: dashboardQueries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: grafanaToPromQL(q.expr) })) }] };
      writeFileSync(join(dir, 'dashboard-queries.yml'), stringify(rules));
      const r = promtool(['check', 'rules', 'dashboard-queries.yml'], dir);
      expect(r.out).toMatch(new RegExp(`SUCCESS: ${dashboardQueries.length} rules found`));
    });

    it('covers every metric family asked of it', () => {
      const used = new Set(dashboardQueries.flatMap((q) => metricNames(grafanaToPromQL(q.expr))).map((n) => n.replace(/_(bucket|count|sum)$/, '')));
      for (const family of [
        'xmppgw_connections', 'xmppgw_ws_handshakes_total', 'xmppgw_elements_total', 'xmppgw_transferred_bytes_total',
        'xmppgw_relay_latency_seconds', 'xmppgw_stream_open_latency_seconds', 'xmppgw_upstream_connect_duration_seconds',
        'xmppgw_stream_errors_total', 'xmppgw_ws_closes_total', 'xmppgw_backpressure_pauses_total', 'xmppgw_session_duration_seconds',
        'nodejs_eventloop_lag_p99_seconds', 'process_resident_memory_bytes', 'process_cpu_seconds_total',
        'xmppgw_bosh_sessions', 'xmppgw_bosh_held_requests', 'xmppgw_bosh_requests_total', 'xmppgw_bosh_terminations_total',
      ]) {
        expect(`${family}: ${used.has(family)}`).toBe(`${family}: true`);
      }
      for (const q of dashboardQueries.filter((x) => /xmppgw_|process_|nodejs_/.test(x.expr))) expect(q.expr).toContain('job=~"$job", instance=~"$instance"');
    });

    it('the provisioning files name a Prometheus data source and load the dashboard from a folder', () => {
      const ds = parseYaml(readFileSync(join(ROOT, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8')) as { apiVersion: number; datasources: Array<Record<string, unknown>> };
      expect(ds.apiVersion).toBe(1);
      expect(ds.datasources).toHaveLength(1);
      expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', access: 'proxy', url: expect.stringMatching(/^https?:\/\//) });
      // Its scrape-interval hint is the one prometheus.yml scrapes at.
      expect((ds.datasources[0]!.jsonData as { timeInterval: string }).timeInterval).toBe((parseYaml(readFileSync(join(PROM_DIR, 'prometheus.yml'), 'utf8')) as { global: { scrape_interval: string } }).global.scrape_interval);
      const variable = dashboard.templating.list.find((v) => v.type === 'datasource')!;
      expect(variable.query).toBe(ds.datasources[0]!.type);
      const dashboards = parseYaml(readFileSync(join(ROOT, 'grafana', 'provisioning', 'dashboards', 'xmpp-ws-gateway.yaml'), 'utf8')) as { apiVersion: number; providers: Array<{ name: string; type: string; options: { path: string } }> };
      expect(dashboards.apiVersion).toBe(1);
      expect(dashboards.providers).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: expect.stringMatching(/^\//) }) })]);
    });
  });

  // ---------------------------------------------------------------- Prometheus, for real

  describe('Prometheus with the shipped scrape job and rules, against a real gateway', () => {
    let prometheus: RunningPrometheus;
    const query = (expr: string) => prometheus.query(expr);

    beforeAll(async () => {
      prometheus = await startPrometheus(join(dir, 'prometheus'), [`127.0.0.1:${opsPort}`], { site: 'test' });
    }, 60_000);

    afterAll(async () => {
      await prometheus?.stop();
    });

    it('scrapes the gateway: up is 1 and the session is counted', async () => {
      expect((await query('up{job="xmpp-ws-gateway"} == 1')).data.result).toHaveLength(1);
      const sessions = await query('sum(xmppgw_sessions_total{job="xmpp-ws-gateway"})');
      expect(Number((sessions.data.result[0] as { value: [number, string] }).value[1])).toBeGreaterThanOrEqual(1);
    });

    it('evaluates every alert rule without error, and none fires for a healthy gateway', async () => {
      const rules = await until('the rules to be evaluated', async () => {
        const all = await prometheus.rules();
        return all.length === 11 && all.every((x) => !x.lastEvaluation.startsWith('0001')) ? all : undefined;
      });
      expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
      expect(rules.filter((r) => r.state !== 'inactive').map((r) => `${r.name}: ${r.state}`)).toEqual([]);
    });

    it('runs every dashboard query without error, and the main panels have data', async () => {
      const failed: string[] = [];
      const empty: string[] = [];
      for (const { panel, expr } of dashboardQueries) {
        const r = await query(grafanaToPromQL(expr));
        if (r.status !== 'success') failed.push(`${panel}: ${r.error}`);
        else if (r.data.result.length === 0) empty.push(panel);
      }
      expect(failed).toEqual([]);
      // Panels that filter with `> 0` or need a failure to have happened may be empty; these may not.
      for (const panel of ['Gateways up', 'Connections by state', 'WebSocket handshakes by result', 'Elements/s by direction and kind', 'Bytes/s by direction', 'Relay latency', 'Stream open latency', 'Resident memory', 'CPU', 'Event-loop lag', 'Workers']) {
        expect(`${panel}: ${empty.includes(panel) ? 'no data' : 'data'}`).toBe(`${panel}: data`);
      }
    });
  });
});
