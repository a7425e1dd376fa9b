'use strict';
/**
 * Many idle authenticated sessions held against the gateway (default 50 000), fake c2s upstream:
 * RSS per session (and its growth curve), CPU per session setup, and a short echo on a sample of
 * the sessions at the end to show they still work. Bounded in time (--max-seconds, default 900).
 *
 *   npm run build && node bench/idle.js [--sessions 50000] [--workers N] [--step 10000] [--no-netns] [--no-write]
 *
 * What limits the count on one Linux host, and how this script deals with it:
 * - File descriptors: the gateway holds two per session (the WebSocket and the upstream TCP
 *   connection), the fake server and the load generator one each. Every process is started with
 *   its soft RLIMIT_NOFILE raised to the hard limit (`prlimit`); if one gateway worker would need
 *   more than ~70 % of it, the number of workers is raised to fit (and the report says so), and
 *   the fake server (a node:cluster) and the load generator are split over enough processes.
 * - Ephemeral ports: all upstream connections go from 127.0.0.1 to one port of the fake server,
 *   so at most `ip_local_port_range` (28 232 by default) of them can exist. As root, the script
 *   re-runs itself in a private network namespace (`unshare -n`, its own loopback) where it may
 *   widen the range to ~5000–65000 without touching the host's settings. Client sockets are spread
 *   over 16 source addresses 127.0.0.2–127.0.0.17 and, in the namespace, bind explicit source ports
 *   below the ephemeral range: a port number taken by bind() is never reused by connect()'s
 *   automatic choice (not even towards another destination), so letting the kernel choose ours
 *   would starve the gateway's upstream connects.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { LoadgenPool } = require('./lib/loadgen');
const sys = require('./lib/system');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const N = Number(opt('--sessions', 50_000));
const STEP = Number(opt('--step', 10_000));
const MAX_SECONDS = Number(opt('--max-seconds', 900));
const RESULTS = path.join(__dirname, 'RESULTS.md');
const userArgs = argv.filter((a) => a !== '--in-netns');

const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

// ------------------------------------------------------------------ private network namespace
// Client sockets get explicit source ports PORT_BASE… (one run of ports per source address) below
// the ephemeral range, which keeps the rest (EPHEMERAL_LOW–65000) for the gateway's upstream
// connects: ports taken by bind() cannot be shared by connect()'s automatic port choice.
const SRC_COUNT = 16;
const WARM = 500;
const PORT_BASE = 1100;
const EPHEMERAL_LOW = PORT_BASE + Math.ceil((N + WARM) / SRC_COUNT) + 100;
if (!flag('--in-netns') && !flag('--no-netns') && process.getuid?.() === 0) {
  const inner = `ip link set lo up && sysctl -q -w net.ipv4.ip_local_port_range="${EPHEMERAL_LOW} 65000" && exec "${process.execPath}" "${__filename}" --in-netns ${userArgs.map((a) => `'${a}'`).join(' ')}`;
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', inner], { stdio: 'inherit', timeout: (MAX_SECONDS + 60) * 1000 });
  if (r.error === undefined && r.status !== null) process.exit(r.status);
  console.error(`idle.js: could not run in a private network namespace (${r.error?.message ?? `exit ${r.status}`}); use --no-netns`);
  process.exit(1);
}

function nofileLimits() {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  const v = (x) => (x === 'unlimited' ? 1 << 20 : Number(x));
  return { soft: v(m[1]), hard: v(m[2]) };
}

function portRange() {
  const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  return { lo, hi, count: hi - lo + 1 };
}

async function main() {
  const t0 = Date.now();
  const startLoad = sys.loadAverage();
  const limits = nofileLimits();
  const ports = portRange();
  const budget = Math.floor(limits.hard * 0.7);
  const requested = opt('--workers', '2');
  const needed = Math.ceil((2 * N + 200) / budget);
  const workers = Math.max(Number(requested), needed);
  const fakeWorkers = Math.max(1, Math.ceil((N + 200) / budget));
  const loadgens = Math.max(2, Math.ceil((N + 200) / budget));
  const notes = [];
  notes.push(`open files: soft ${limits.soft}, hard ${limits.hard} (\`ulimit -Hn\`); every process started with soft = hard via \`prlimit\`.`);
  if (workers > Number(requested)) {
    notes.push(
      `--workers ${requested} cannot hold ${N} sessions on this host: a gateway worker needs 2 descriptors per session (WebSocket + upstream TCP), ` +
        `${2 * N} in all, and the hard limit of ${limits.hard} per process cannot be raised here (no CAP_SYS_RESOURCE). Ran --workers ${workers} ` +
        `(${Math.ceil(N / workers)} sessions, ~${2 * Math.ceil(N / workers)} descriptors per worker) instead.`,
    );
  }
  notes.push(
    `ephemeral ports: ${ports.lo}–${ports.hi} (${ports.count}) ${flag('--in-netns') ? `in a private network namespace (unshare -n); client sockets bind explicit source ports ${PORT_BASE}–${EPHEMERAL_LOW - 101} on each of 127.0.0.2–127.0.0.${1 + SRC_COUNT}, below that range` : 'in the host namespace'}; upstream connections needed: ${N}.`,
  );
  if (ports.count < N + 1000) notes.push(`WARNING: fewer ephemeral ports than upstream connections: expect connect failures past ~${ports.count}.`);
  for (const n of notes) log(n);

  const started = [];
  let pool = null;
  const cleanup = async () => {
    if (pool) pool.stop();
    await Promise.all(started.map((t) => t.stop().catch(() => {})));
  };
  const timer = setTimeout(() => {
    console.error(`idle.js: --max-seconds ${MAX_SECONDS} reached; stopping`);
    cleanup().finally(() => process.exit(1));
  }, MAX_SECONDS * 1000);
  timer.unref();

  try {
    const nofile = `${limits.hard}:${limits.hard}`;
    const fake = await sys.startFake({ workers: fakeWorkers, nofile });
    started.push(fake);
    const gw = await sys.startGateway({ upstreamPort: fake.port, workers, nofile });
    started.push(gw);
    // The load generator children inherit our limits: raise ours first (soft up to hard is allowed).
    spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${limits.hard}:${limits.hard}`]);
    pool = await LoadgenPool.start(loadgens);
    const srcCount = SRC_COUNT;
    const inNetns = flag('--in-netns');
    const common = { url: gw.url, domain: 'localhost', sasl: 'PLAIN', srcCount, concurrency: 400, portBase: inNetns ? PORT_BASE : 0 };
    log(`gateway --workers ${workers} (pids ${gw.pids().join(' ')}), fake c2s ${fakeWorkers} process(es), ${loadgens} load generators`);

    // Warm-up, then the baseline.
    const warm = await pool.login({ ...common, tag: 'warm', count: WARM, offset: N });
    await pool.all('close', { tag: 'warm' });
    await sys.sleep(2000);
    const rss0 = gw.rss();
    const cpu0 = gw.cpu();
    const curve = [{ n: 0, rssMiB: rss0 / 1024 }];
    let ok = 0;
    let failed = warm.failed;
    const errors = [...warm.errorSamples];
    let loginSecs = 0;
    for (let done = 0, k = 0; done < N; k++) {
      const count = Math.min(STEP, N - done);
      const r = await pool.login({ ...common, tag: `idle-${k}`, count, offset: done, deadlineMs: 300_000 }, 400_000);
      done += count;
      ok += r.ok;
      failed += r.failed;
      loginSecs += r.ms / 1000;
      errors.push(...r.errorSamples);
      await sys.sleep(1000);
      curve.push({ n: ok, rssMiB: gw.rss() / 1024, secs: r.ms / 1000 });
      log(`${ok} sessions up (${failed} failed), gateway RSS ${(gw.rss() / 1024).toFixed(0)} MiB, ${(r.ok / (r.ms / 1000)).toFixed(0)} logins/s`);
      if (r.ok === 0) break;
    }
    const cpu1 = gw.cpu();
    await sys.sleep(5000);
    const rss1 = gw.rss();
    const perWorker = gw.pids().map((pid) => ({ pid, rssMiB: sys.rssKiB(pid) / 1024, fds: sys.openFds(pid) }));
    // Still alive? A short closed-loop echo on the first step's sessions.
    await pool.all('echoStart', { tag: 'idle-0', window: 1 });
    await sys.sleep(1000);
    const c0 = await pool.counts('idle-0');
    await sys.sleep(3000);
    const c1 = await pool.counts('idle-0');
    const stop = await pool.all('echoStop', { tag: 'idle-0' });
    const echoRate = (c1.received - c0.received) / 3;
    const lost = stop.reduce((s, r) => s + r.lost, 0);
    log(`echo on ${Math.min(STEP, N)} of the sessions: ${echoRate.toFixed(0)} msg/s, lost ${lost}`);
    // Least-squares slope of RSS over sessions: per-session cost without the fixed part.
    const pts = curve.filter((p) => p.n > 0);
    const mx = pts.reduce((s, p) => s + p.n, 0) / pts.length;
    const my = pts.reduce((s, p) => s + p.rssMiB, 0) / pts.length;
    const slope = pts.reduce((s, p) => s + (p.n - mx) * (p.rssMiB - my), 0) / pts.reduce((s, p) => s + (p.n - mx) ** 2, 0);
    const perSession = (rss1 - rss0) / Math.max(1, ok);
    log(`RSS per idle session: ${perSession.toFixed(2)} KiB (delta/N), ${(slope * 1024).toFixed(2)} KiB (slope)`);
    const closing = Date.now();
    const closed = await pool.all('close', { tag: 'idle-0' });
    for (let k = 1; k < curve.length - 1; k++) await pool.all('close', { tag: `idle-${k}` });
    const closeSecs = (Date.now() - closing) / 1000;
    const terminated = closed.reduce((s, r) => s + r.terminated, 0);
    await cleanup();
    clearTimeout(timer);

    const pass = ok === N && lost === 0 && echoRate > 0;
    const body = `# ${N.toLocaleString('en')} idle sessions (\`node bench/idle.js\`)

\`\`\`
npm run build && node bench/idle.js${userArgs.length ? ` ${userArgs.join(' ')}` : ''}
\`\`\`

- **Date:** ${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC; **duration** ${((Date.now() - t0) / 60000).toFixed(1)} min
- **Machine:** \`nproc\` = ${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; **Node** ${process.version}; load average at start ${startLoad}, at end ${sys.loadAverage()}
- **Gateway:** \`${gw.command}\` (ports vary), fake c2s upstream (${fakeWorkers} process(es)), ${loadgens} load-generator processes, client sockets from 127.0.0.2–127.0.0.${1 + srcCount}
${notes.map((n) => `- ${n}`).join('\n')}

| measure | value |
|---|---:|
| sessions logged in and held | ${ok.toLocaleString('en')} of ${N.toLocaleString('en')} (${failed} failed) |
| gateway RSS before (after 500 warm-up sessions came and went), all processes | ${(rss0 / 1024).toFixed(0)} MiB |
| gateway RSS with every session idle (5 s after the last login) | ${(rss1 / 1024).toFixed(0)} MiB |
| **RSS per idle authenticated session** (delta / N) | **${perSession.toFixed(2)} KiB** (target ≤ 13 KiB: ${perSession <= 13 ? 'met' : 'not met'}) |
| RSS per session, slope of RSS over the ${pts.length} steps | ${(slope * 1024).toFixed(2)} KiB |
| gateway CPU per session setup (all logins) | ${(((cpu1 - cpu0) / Math.max(1, ok)) * 1e6).toFixed(0)} µs |
| login rate (whole machine: gateway, fake c2s and load generators share 2 cores) | ${(ok / loginSecs).toFixed(0)} /s |
| echo on ${Math.min(STEP, N).toLocaleString('en')} of the held sessions afterwards (window 1, 3 s) | ${echoRate.toFixed(0)} msg/s, ${lost} lost |
| close of all sessions (\`<close/>\` each, bounded) | ${closeSecs.toFixed(1)} s${terminated ? `, ${terminated} had to be terminated` : ''} |

RSS growth (all gateway processes): ${curve.map((p) => `${p.n.toLocaleString('en')} → ${p.rssMiB.toFixed(0)} MiB`).join('; ')}.

Per process at the peak: ${perWorker.map((w) => `pid ${w.pid}: ${w.rssMiB.toFixed(0)} MiB, ${w.fds} fds`).join('; ')} (the first is the cluster primary).
${errors.length ? `\nFirst errors: ${errors.slice(0, 5).map((e) => `\`${e}\``).join('; ')}\n` : ''}`;
    if (!flag('--no-write')) {
      const begin = '<!-- BEGIN bench/idle.js (generated; rewritten by each run) -->';
      const end = '<!-- END bench/idle.js -->';
      let text = fs.readFileSync(RESULTS, 'utf8');
      const block = `${begin}\n${body.trim()}\n${end}`;
      const a = text.indexOf(begin);
      const b = text.indexOf(end);
      text = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + end.length) : `${text.trimEnd()}\n\n${block}\n`;
      fs.writeFileSync(RESULTS, text);
      log('wrote the idle section of bench/RESULTS.md');
    }
    console.log(`\n${body}`);
    process.exit(pass ? 0 : 1);
  } catch (err) {
    console.error(err && err.stack ? err.stack : err);
    await cleanup();
    process.exit(1);
  }
}

main();
