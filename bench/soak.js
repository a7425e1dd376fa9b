'use strict';
/**
 * Soak: the gateway (--workers 1) in front of the fake c2s server for a bounded time at a fixed
 * message rate, with sessions joining and leaving all along, sampling the gateway's RSS, open file
 * descriptors, active handles and event-loop lag. What must hold: those stay flat (no growth trend
 * once warm), and nothing is lost.
 *
 *   npm run build && node bench/soak.js [--minutes 20] [--rate 2000] [--sessions 500] [--churn 20]
 *                                       [--sample-seconds 30] [--write]
 *
 * Every `--sample-seconds` it: closes `--churn` sessions and logs in as many new ones (so sessions
 * keep joining and leaving), runs the open-loop echo at `--rate` for most of the interval, and
 * records a sample. With --write the table replaces the soak section of bench/RESULTS.md.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { LoadgenPool } = require('./lib/loadgen');
const sys = require('./lib/system');

const argv = process.argv.slice(2);
const num = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const P = {
  minutes: num('--minutes', 20),
  rate: num('--rate', 2000),
  sessions: num('--sessions', 500),
  churn: num('--churn', 20),
  sampleSeconds: num('--sample-seconds', 30),
};
const WRITE = argv.includes('--write');
const HARD_DEADLINE_MS = (P.minutes + 5) * 60_000;
const RESULTS = path.join(__dirname, 'RESULTS.md');

/**
 * One scrape of the gateway's /metrics, as a lookup of series values. One scrape per sample: prom-client
 * resets the event-loop delay histogram at each collection, so a second scrape would read it empty.
 */
async function scrape(target) {
  const r = await sys.httpGet(target.opsPort, '/metrics', 5000);
  const lines = r.body.split('\n');
  return (name) => {
    const line = lines.find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
}

/** Least-squares slope of y over x. */
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main() {
  const hard = setTimeout(() => {
    console.error('soak: hard deadline reached');
    process.exit(2);
  }, HARD_DEADLINE_MS);
  hard.unref();
  const fake = await sys.startFake();
  const gw = await sys.startGateway({ upstreamPort: fake.port, workers: 1 });
  const pool = await LoadgenPool.start(1);
  const samples = [];
  let sent = 0;
  let lost = 0;
  let generation = 0;
  try {
    const login = async (tag, count, offset) => {
      const r = await pool.call(0, 'login', { tag, url: gw.url, count, concurrency: 50, srcBase: 2, srcCount: 8, offset });
      if (r.failed > 0) throw new Error(`soak: ${r.failed} logins failed: ${JSON.stringify(r.errorSamples)}`);
    };
    // The steady population, in groups of `churn` so a group can leave and a new one join.
    const groups = [];
    for (let i = 0; i < P.sessions / P.churn; i++) {
      const tag = `g${generation++}`;
      await login(tag, P.churn, generation * P.churn);
      groups.push(tag);
    }
    const started = Date.now();
    const endAt = started + P.minutes * 60_000;
    while (Date.now() < endAt) {
      // Churn: the oldest group leaves with <close/>, a new one logs in.
      const leaving = groups.shift();
      const closed = await pool.call(0, 'close', { tag: leaving });
      if (closed.terminated > 0) throw new Error(`soak: ${closed.terminated} sessions did not close cleanly`);
      const tag = `g${generation++}`;
      await login(tag, P.churn, generation * P.churn);
      groups.push(tag);
      // Traffic at the fixed rate, spread over every live group.
      const ms = Math.max(1000, P.sampleSeconds * 1000 - 3000);
      const perGroup = P.rate / groups.length;
      const results = await Promise.all(groups.map((g) => pool.call(0, 'rate', { tag: g, rate: perGroup, ms, warmupMs: 0 })));
      for (const r of results) {
        sent += r.sent;
        lost += r.lost;
      }
      const metric = await scrape(gw);
      samples.push({
        minute: (Date.now() - started) / 60_000,
        rssMiB: gw.rss() / 1024,
        // The V8 heap in use: tells a JavaScript leak from the allocator settling when RSS moves.
        heapMiB: metric('nodejs_heap_size_used_bytes') / 1048576,
        fds: sys.openFds(gw.rootPid),
        handles: metric('nodejs_active_handles_total'),
        // Sampled with 10 ms resolution (perf_hooks.monitorEventLoopDelay): ~10 ms means idle.
        lagP99ms: metric('nodejs_eventloop_lag_p99_seconds') * 1000,
        sessions: metric('xmppgw_connections{state="open"}'),
        p99ms: percentile(results.flatMap((r) => r.samples), 0.99),
      });
      const s = samples[samples.length - 1];
      console.log(`soak t=${s.minute.toFixed(1)}m rss=${s.rssMiB.toFixed(1)}MiB heap=${s.heapMiB.toFixed(1)}MiB fds=${s.fds} handles=${s.handles} lag_p99=${s.lagP99ms.toFixed(2)}ms open=${s.sessions} rtt_p99=${s.p99ms.toFixed(2)}ms`);
    }
    for (const g of groups) await pool.call(0, 'close', { tag: g });
  } finally {
    pool.stop();
    await gw.stop();
    await fake.stop();
  }
  report(samples, sent, lost);
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function report(samples, sent, lost) {
  // Trend over the second half (after warm-up): growth per hour, extrapolated from the slope.
  const warm = samples.slice(Math.floor(samples.length / 2));
  const xs = warm.map((s) => s.minute);
  const trend = (key) => slope(xs, warm.map((s) => s[key])) * 60;
  const lines = [
    '<!-- BEGIN bench/soak.js -->',
    '## Soak',
    '',
    '```',
    `npm run build && node ${['bench/soak.js', ...argv].join(' ')}`,
    '```',
    '',
    `- **Date:** ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; Node ${process.version}; ${os.cpus().length} CPUs; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`,
    `- **Load:** gateway --workers 1 → fake c2s; ${P.sessions} sessions; every ${P.sampleSeconds} s ${P.churn} leave with <close/> and ${P.churn} new ones log in; echo at ${P.rate} msg/s open loop in between; ${P.minutes} min.`,
    `- **Delivered:** ${sent - lost} of ${sent} messages (${lost} lost).`,
    `- **Trend over the second half, per hour:** RSS ${trend('rssMiB').toFixed(2)} MiB/h, JS heap in use ${trend('heapMiB').toFixed(2)} MiB/h, fds ${trend('fds').toFixed(1)}/h, handles ${trend('handles').toFixed(1)}/h, event-loop lag p99 ${trend('lagP99ms').toFixed(3)} ms/h.`,
    '',
    '| minute | RSS MiB | JS heap in use MiB | open fds | active handles | event-loop lag p99 ms | open sessions | round trip p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...samples.map((s) => `| ${s.minute.toFixed(1)} | ${s.rssMiB.toFixed(1)} | ${s.heapMiB.toFixed(1)} | ${s.fds} | ${s.handles} | ${s.lagP99ms.toFixed(2)} | ${s.sessions} | ${s.p99ms.toFixed(2)} |`),
    '<!-- END bench/soak.js -->',
  ];
  const text = lines.join('\n');
  console.log(text);
  if (WRITE) {
    const current = fs.readFileSync(RESULTS, 'utf8');
    const begin = current.indexOf('<!-- BEGIN bench/soak.js -->');
    const end = current.indexOf('<!-- END bench/soak.js -->');
    const next = begin >= 0 && end > begin
      ? current.slice(0, begin) + text + current.slice(end + '<!-- END bench/soak.js -->'.length)
      : `${current.trimEnd()}\n\n${text}\n`;
    fs.writeFileSync(RESULTS, next);
  }
  if (lost > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err.stack || err.message);
  process.exit(1);
});
