/**
 * A private Prometheus (Debian's `prometheus` package) with the shipped scrape job and alert rules
 * (deploy/prometheus/), scraping targets on 127.0.0.1 every second, for tests that check what an
 * operator would see. Also the small process helpers those tests share.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { freePort, httpGet } from './net';
import { stopChild } from './processes';

export const PROM_DIR = join(__dirname, '..', '..', 'deploy', 'prometheus');
export const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
export const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));

export interface ScrapeConfig {
  rule_files: string[];
  scrape_configs: Array<Record<string, unknown> & { job_name: string }>;
}

/** deploy/prometheus/prometheus.yml as shipped. */
export const shippedScrapeConfig = (): ScrapeConfig => parseYaml(readFileSync(join(PROM_DIR, 'prometheus.yml'), 'utf8')) as ScrapeConfig;

/** Polls `probe` until it returns a value (bounded); errors count as "not yet". */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The scrape config as Debian's build of Prometheus (without Kubernetes service discovery) accepts it. */
export function withoutKubernetesSd<T extends ScrapeConfig>(config: T): T {
  const copy = structuredClone(config);
  for (const job of copy.scrape_configs) delete job.kubernetes_sd_configs;
  return copy;
}

export interface QueryResult {
  status: string;
  data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  error?: string;
}

export interface RuleState {
  name: string;
  health: string;
  lastError?: string;
  state: string;
  lastEvaluation: string;
}

export interface RunningPrometheus {
  readonly port: number;
  /** Prometheus's own output, for failure messages. */
  readonly output: () => string;
  query(expr: string): Promise<QueryResult>;
  /** Every rule of the loaded rule files with its health and state. */
  rules(): Promise<RuleState[]>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus in `dir` with the shipped config (Kubernetes SD left out, see above), its file
 * targets replaced by `targets` (host:port on 127.0.0.1) with `labels`, scraping and evaluating
 * every second, and waits until it has scraped them at least `minScrapes` times.
 */
export async function startPrometheus(dir: string, targets: string[], labels: Record<string, string>, minScrapes = 5): Promise<RunningPrometheus> {
  if (PROMETHEUS === undefined) throw new Error('prometheus is not installed: run `npm run test:deps` (installs Debian prometheus)');
  mkdirSync(join(dir, 'targets'), { recursive: true });
  const config = withoutKubernetesSd(shippedScrapeConfig()) as ScrapeConfig & { global: Record<string, string> };
  // Faster than production so a test sees several scrapes and rule evaluations in seconds.
  config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
  const job = config.scrape_configs.find((j) => j.job_name === 'xmpp-ws-gateway')!;
  const fileSd = job.file_sd_configs as Array<{ files: string[] }>;
  if (fileSd[0]!.files[0] !== '/etc/prometheus/targets/xmpp-ws-gateway*.yml') throw new Error(`unexpected file_sd path in the shipped config: ${fileSd[0]!.files[0]}`);
  fileSd[0]!.files = [join(dir, 'targets', 'xmpp-ws-gateway*.yml')];
  writeFileSync(join(dir, 'targets', 'xmpp-ws-gateway.yml'), stringify([{ targets, labels }]));
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  copyFileSync(join(PROM_DIR, 'alerts.yml'), join(dir, 'alerts.yml'));
  const port = await freePort();
  let out = '';
  const child = spawn(PROMETHEUS, [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const query = async (expr: string): Promise<QueryResult> => JSON.parse((await httpGet(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`)).body) as QueryResult;
  const rules = async (): Promise<RuleState[]> => {
    const r = JSON.parse((await httpGet(`http://127.0.0.1:${port}/api/v1/rules`)).body) as { data: { groups: Array<{ rules: RuleState[] }> } };
    return r.data.groups.flatMap((g) => g.rules);
  };
  const running: RunningPrometheus = { port, output: () => out, query, rules, stop: () => stopChild(child) };
  try {
    const selector = Object.entries(labels).map(([k, v]) => `, ${k}="${v}"`).join('');
    await until(`Prometheus to scrape ${targets.join(', ')} (${out})`, async () => {
      const r = await query(`count_over_time(up{job="xmpp-ws-gateway"${selector}}[1m]) >= ${minScrapes}`);
      return r.status === 'success' && r.data.result.length === targets.length ? true : undefined;
    }, 40_000);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return running;
}
