/**
 * The README's option and error tables, generated from the code that defines them (config.ts,
 * xmpp/stream-error.ts) so the documentation cannot drift: `npm run docs` rewrites them between
 * markers, and a unit test fails when the README is out of date.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ENV_PREFIX, SETTINGS } from '../../src/config';
import { FAILURES } from '../../src/xmpp/stream-error';
import { Metrics, PrimaryMetrics } from '../../src/metrics';

export function optionsTable(): string {
  const rows = SETTINGS.map((s) => `| \`--${s.flag}\` | \`${ENV_PREFIX}${s.env}\` | ${s.defaultText === '' ? 'empty' : `\`${s.defaultText}\``} | ${s.help.replace(/\|/g, '\\|').replace(/<\/?[\w:]+\/?>/g, (tag) => `\`${tag}\``)} |`);
  return ['| flag | environment variable | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export function errorTable(): string {
  const rows = Object.values(FAILURES).map((f) => {
    const condition = f.condition === null ? '—' : `\`${f.condition}\``;
    const wsClose = f.wsCloseCode === 1006 ? 'none (connection gone or terminated)' : String(f.wsCloseCode);
    const upstream = f.closeUpstreamStream ? '`</stream:stream>`' : 'TCP dropped, no footer';
    return `| \`${f.event}\` | ${f.description} | ${condition} | ${wsClose} | ${upstream} | ${f.origin} |`;
  });
  return ['| log event (`reason`) | when | stream error to the client | WebSocket close | upstream, if connected | origin |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

/** Every xmppgw_* metric, from the one module that declares them (default process/nodejs metrics aside). */
export function metricsTable(): string {
  const all = [...new Metrics().registry.getMetricsAsArray(), ...new PrimaryMetrics(() => 0).registry.getMetricsAsArray()];
  const rows = all.map((m) => {
    const labels = (m as unknown as { labelNames: string[] }).labelNames;
    return `| \`${m.name}\` | ${m.type} | ${labels.length === 0 ? '—' : labels.map((l) => `\`${l}\``).join(', ')} | ${m.help.replace(/\|/g, '\\|').replace(/<\/?[\w:]+\/?>/g, (tag) => `\`${tag}\``)} |`;
  });
  return ['| metric | type | labels | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

const MARKERS = { options: optionsTable, errors: errorTable, metrics: metricsTable } as const;

/** The directory holding this package's package.json, searched upwards (the source and the built tool sit at different depths). */
function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'README.md'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package root above ${from}`);
  }
}

/** The README with every generated section replaced by its current text. */
export function renderReadme(readme: string): string {
  let out = readme;
  for (const [name, render] of Object.entries(MARKERS)) {
    const begin = `<!-- BEGIN GENERATED ${name} -->`;
    const end = `<!-- END GENERATED ${name} -->`;
    const i = out.indexOf(begin);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md lacks the ${begin} … ${end} markers`);
    out = `${out.slice(0, i + begin.length)}\n${render()}\n${out.slice(j)}`;
  }
  return out;
}

if (require.main === module) {
  const path = join(packageRoot(__dirname), 'README.md');
  writeFileSync(path, renderReadme(readFileSync(path, 'utf8')));
  process.stdout.write('README.md tables regenerated\n');
}
