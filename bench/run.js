'use strict';
/**
 * Relay benchmark: the gateway against the floor (the least a WebSocket-to-TCP relay can do) and
 * against Prosody's own mod_websocket, all measured in ONE run on this machine, so every figure is
 * also given as a ratio to a baseline measured minutes apart under the same conditions.
 *
 *   npm run build && node bench/run.js             full run (~4-5 min on 2 cores), rewrites its section of bench/RESULTS.md
 *   npm run build && node bench/run.js --smoke     ~35 s, small N, exit 1 if any scenario breaks (never on speed)
 *   npm run build && node bench/run.js --profile   node --cpu-prof of the gateway (--workers 1) under echo
 *                                                  load (next to the floor's) and under session setup, with
 *                                                  top self-time functions mapped to src/; heap snapshots
 *                                                  before/after 2 000 idle sessions (gateway and floor)
 *
 * Scenarios (each a separate process tree; the load generator and the upstream in other processes):
 *   floor            bench/lib/floor-relay.js → bench/lib/fake-c2s.js
 *   gateway w1       node bin/xmpp-ws-gateway.js --workers 1 → fake c2s
 *   gateway w2       the same with --workers 2 (CPU and RSS summed over primary and workers)
 *   gateway→Prosody  --workers 1 → a private Prosody 0.12 (tools/demo/prosody/), SASL ANONYMOUS
 *   Prosody ws       Prosody's own RFC 7395 endpoint (mod_websocket) on a second, identical Prosody
 *                    (both Prosodys see the same sessions come and go; traffic is measured first)
 *
 * Measured per scenario:
 *   setup + idle     log in N sessions (open, SASL, restart, bind): relay CPU / N; then hold them:
 *                    relay RSS delta / N (VmRSS, summed over processes), after a settle time;
 *                    fake-c2s family: --setup-reps interleaved reps (ABC, CBA, …), medians shown
 *   throughput       closed loop, S sessions × window messages to their own full JID in flight;
 *                    rounds interleaved across scenarios; echoed messages/s and relay CPU per echo
 *                    (one echo = one element relayed each way)
 *   latency          open loop at a fixed total rate (2 000 messages/s), round trip p50/p99, in
 *                    interleaved rounds; "added p99" = median over round pairs of (p99 − floor p99)
 *   sanity           every login, echo and close must succeed and nothing may be lost; the gateway's
 *                    xmppgw_stream_errors_total must stay 0 (any failure → exit 1, in every mode)
 *
 * Options: --sessions N (idle/setup, 5000) --setup-reps R (3) --echo-sessions S (100) --window W (4) --rounds R (5)
 *   --seconds T (per throughput round, 3) --rate M (2000) --latency-seconds T (2) --latency-rounds R (6)
 *   --loadgens K (2) --no-prosody --no-write --write (smoke: also write its section)
 *   profile: --profile-seconds T (12) --profile-sessions N (3000) --heap-sessions N (2000) --no-heap
 *     --phases LIST (echo,floor-echo,setup,heap; also floor-setup: the floor's setup under the profiler)
 * Bounded: every wait has a deadline, and a hard deadline (20 min; smoke 2 min) ends the run.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { LoadgenPool } = require('./lib/loadgen');
const sys = require('./lib/system');
const { Harness } = require('./lib/harness');
const results = require('./lib/results');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const num = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const KIND = flag('--smoke') ? 'smoke' : flag('--profile') ? 'profile' : 'full';
const SMOKE = KIND === 'smoke';
const P = {
  sessions: num('--sessions', SMOKE ? 200 : 5000),
  // Single setup measurements spread by ±20 % here (a major GC of the growing heap falls in the
  // window or not), so the fake-c2s family takes the median of interleaved reps.
  setupReps: num('--setup-reps', SMOKE ? 1 : 3),
  warmSessions: SMOKE ? 20 : 200,
  echoSessions: num('--echo-sessions', SMOKE ? 20 : 100),
  window: num('--window', 4),
  rounds: num('--rounds', SMOKE ? 1 : 5),
  warmupMs: SMOKE ? 500 : 1000,
  seconds: num('--seconds', SMOKE ? 1.5 : 3),
  rate: num('--rate', SMOKE ? 500 : 2000),
  latencySeconds: num('--latency-seconds', SMOKE ? 1 : 2),
  latencyRounds: num('--latency-rounds', SMOKE ? 1 : 6),
  settleMs: SMOKE ? 500 : 3000,
  loadgens: num('--loadgens', 2),
  srcCount: 8,
  concurrency: 200,
};
const WRITE = KIND === 'smoke' ? flag('--write') : !flag('--no-write');
const HARD_DEADLINE_MS = SMOKE ? 120_000 : 20 * 60_000;

const harness = new Harness('bench/run.js', HARD_DEADLINE_MS);
const { log, check, started } = harness;
let pool = null;

// ------------------------------------------------------------------------------ measurements

/** CPU seconds of the relay, the upstream server, the load generators, and machine counters. */
function snapshot(sc) {
  return {
    t: performance.now(),
    relay: sc.relay.cpu(),
    upstream: sc.upstream.cpu(),
    loadgen: pool.pids.reduce((s, p) => s + sys.cpuSeconds(p), 0),
    machine: sys.machineCpu(),
  };
}

function delta(a, b) {
  const secs = (b.t - a.t) / 1000;
  const m = b.machine.total - a.machine.total;
  return {
    secs,
    relay: b.relay - a.relay,
    upstream: b.upstream - a.upstream,
    loadgen: b.loadgen - a.loadgen,
    machineBusy: m > 0 ? (b.machine.busy - a.machine.busy) / m : 0,
  };
}

function loginArgs(sc, tag, count) {
  return { tag, url: sc.url, count, domain: sc.domain, sasl: sc.sasl, srcCount: P.srcCount, concurrency: P.concurrency };
}

async function closeGroup(sc, tag) {
  const res = await pool.all('close', { tag });
  const terminated = res.reduce((s, r) => s + r.terminated, 0);
  check(terminated === 0, `${sc.name}: ${terminated} sessions of ${tag} did not close cleanly after <close/>`);
  return res;
}

/** Session setup CPU and idle RSS: N logins, then hold them. */
async function setupAndIdle(sc) {
  log(`${sc.name}: warm-up, then ${P.sessions} logins and idle hold`);
  const warm = await pool.login(loginArgs(sc, 'warm', P.warmSessions));
  check(warm.failed === 0, `${sc.name}: ${warm.failed} warm-up logins failed: ${warm.errorSamples.join('; ')}`);
  await pool.all('echoStart', { tag: 'warm', window: 1 });
  await sys.sleep(SMOKE ? 200 : 500);
  await pool.all('echoStop', { tag: 'warm' });
  await closeGroup(sc, 'warm');
  await sys.sleep(1000);
  const rss0 = sc.relay.rss();
  const up0 = sc.upstream.rss();
  const s0 = snapshot(sc);
  const r = await pool.login(loginArgs(sc, 'idle', P.sessions), 300_000);
  const s1 = snapshot(sc);
  check(r.ok === P.sessions, `${sc.name}: ${r.failed} of ${P.sessions} logins failed: ${r.errorSamples.join('; ')}`);
  await sys.sleep(P.settleMs);
  const rss1 = sc.relay.rss();
  const up1 = sc.upstream.rss();
  const d = delta(s0, s1);
  const n = Math.max(1, r.ok);
  await closeGroup(sc, 'idle');
  const out = {
    n: r.ok,
    loginSecs: r.ms / 1000,
    loginsPerSec: r.ok / (r.ms / 1000),
    setupCpuUs: (d.relay / n) * 1e6,
    setupUpstreamCpuUs: (d.upstream / n) * 1e6,
    rssBaseMiB: rss0 / 1024,
    rssPerSessionKiB: (rss1 - rss0) / n,
    upstreamRssPerSessionKiB: (up1 - up0) / n,
  };
  log(`${sc.name}: setup ${out.setupCpuUs.toFixed(0)} µs CPU/session, ${out.rssPerSessionKiB.toFixed(2)} KiB RSS/session (${out.loginsPerSec.toFixed(0)} logins/s)`);
  return out;
}

/**
 * `reps` interleaved rounds of setupAndIdle (ABC, CBA, …), each on a fresh relay (`sc.fresh`): a
 * relay that already held N sessions has grown its heap, which changes both its setup CPU (fewer
 * GCs while growing) and its RSS delta (memory reused). Each scenario's `result.setup` holds the
 * median of every figure, and the reps in `setupCpuUsReps` and `rssPerSessionKiBReps`. Traffic
 * then runs on the last relay of each scenario.
 */
async function setupRounds(scenarios, reps) {
  const runs = new Map(scenarios.map((sc) => [sc, []]));
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const sc of order) {
      if (rep > 0) {
        await sc.relay.stop();
        sc.relay = await sc.fresh();
        sc.url = sc.relay.url;
      }
      runs.get(sc).push(await setupAndIdle(sc));
    }
  }
  for (const sc of scenarios) {
    const list = runs.get(sc);
    const setup = {};
    for (const key of Object.keys(list[0])) setup[key] = median(list.map((r) => r[key]));
    setup.setupCpuUsReps = list.map((r) => r.setupCpuUs);
    setup.rssPerSessionKiBReps = list.map((r) => r.rssPerSessionKiB);
    sc.result.setup = setup;
  }
}

/** One closed-loop round: warm-up, then a measured window. */
async function throughputRound(sc) {
  const tag = `echo-${sc.key}`;
  await pool.all('echoStart', { tag, window: P.window });
  await sys.sleep(P.warmupMs);
  const s0 = snapshot(sc);
  const c0 = await pool.counts(tag);
  await sys.sleep(P.seconds * 1000);
  const c1 = await pool.counts(tag);
  const s1 = snapshot(sc);
  const stop = await pool.all('echoStop', { tag });
  const lost = stop.reduce((s, r) => s + r.lost, 0);
  const errors = stop.reduce((s, r) => s + r.errors, 0);
  const d = delta(s0, s1);
  const msgs = c1.received - c0.received;
  check(msgs > 0, `${sc.name}: no message echoed in a throughput round`);
  check(lost === 0 && errors === 0, `${sc.name}: throughput round lost ${lost} messages, ${errors} errors: ${stop.flatMap((r) => r.errorSamples).join('; ')}`);
  const per = (x) => (msgs > 0 ? (x / msgs) * 1e6 : NaN);
  const round = {
    rate: msgs / d.secs,
    relayCpuUs: per(d.relay),
    upstreamCpuUs: per(d.upstream),
    loadgenCpuUs: per(d.loadgen),
    relayCores: d.relay / d.secs,
    upstreamCores: d.upstream / d.secs,
    loadgenCores: d.loadgen / d.secs,
    machineBusy: d.machineBusy,
    totalEchoed: stop.reduce((x, r) => x + r.received, 0),
  };
  log(`${sc.name}: ${round.rate.toFixed(0)} msg/s, relay ${round.relayCpuUs.toFixed(1)} µs/msg (${(round.relayCores * 100).toFixed(0)}% of a core), machine ${(round.machineBusy * 100).toFixed(0)}% busy`);
  return round;
}

async function latencyRound(sc) {
  const tag = `echo-${sc.key}`;
  const res = await pool.all('rate', { tag, rate: P.rate / P.loadgens, ms: P.latencySeconds * 1000, warmupMs: SMOKE ? 300 : 500 });
  const samples = res.flatMap((r) => r.samples);
  const lost = res.reduce((s, r) => s + r.lost, 0);
  check(samples.length > 0, `${sc.name}: no round trip measured`);
  check(lost === 0, `${sc.name}: ${lost} messages lost in the open-loop run`);
  return samples;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs every phase for a family of scenarios sharing one load-generator pool; rounds interleaved. */
/**
 * Runs every phase for a family of scenarios sharing one load-generator pool, rounds interleaved
 * (ABC, CBA, …) so drift in the machine's load hits every scenario alike. `trafficFirst` runs the
 * throughput and latency phases before the setup/idle phase (for Prosody, which slows down once
 * thousands of sessions have come and gone).
 */
async function runFamily(scenarios, { trafficFirst = false } = {}) {
  for (const sc of scenarios) sc.result = { rounds: [], samples: [], latencyRounds: [] };
  if (!trafficFirst) await setupRounds(scenarios, P.setupReps);
  for (const sc of scenarios) {
    const r = await pool.login(loginArgs(sc, `echo-${sc.key}`, P.echoSessions));
    check(r.failed === 0, `${sc.name}: ${r.failed} echo-session logins failed: ${r.errorSamples.join('; ')}`);
  }
  for (let round = 0; round < P.rounds; round++) {
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const sc of order) sc.result.rounds.push(await throughputRound(sc));
  }
  log(`open loop at ${P.rate} msg/s: ${P.latencyRounds} rounds of ${P.latencySeconds} s per scenario, interleaved`);
  for (let round = 0; round < P.latencyRounds; round++) {
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
    for (const sc of order) {
      const samples = await latencyRound(sc);
      const sorted = [...samples].sort((a, b) => a - b);
      sc.result.latencyRounds.push({ p50: percentile(sorted, 50), p99: percentile(sorted, 99) });
      sc.result.samples.push(...samples);
    }
  }
  for (const sc of scenarios) await closeGroup(sc, `echo-${sc.key}`);
  // The gateway's own account: no stream error of any kind in a clean run.
  for (const sc of scenarios) {
    if (sc.relay.opsPort === undefined) continue;
    const errors = await sys.gatewayMetric(sc.relay, 'xmppgw_stream_errors_total');
    check(errors === 0, `${sc.name}: the gateway counted ${errors} stream errors (xmppgw_stream_errors_total)`);
  }
  // Prosody: one rep, after the traffic (it slows down as sessions come and go, see above).
  if (trafficFirst) await setupRounds(scenarios, 1);
  for (const sc of scenarios) {
    const r = sc.result;
    const s = r.samples.sort((a, b) => a - b);
    r.p50 = percentile(s, 50);
    r.p99 = percentile(s, 99);
    r.p999 = percentile(s, 99.9);
    r.latencyN = s.length;
    r.p99Rounds = r.latencyRounds.map((x) => x.p99);
    r.p99Median = median(r.p99Rounds);
    delete r.samples;
    const pick = (k) => median(r.rounds.map((x) => x[k]));
    r.rate = pick('rate');
    r.rateMin = Math.min(...r.rounds.map((x) => x.rate));
    r.rateMax = Math.max(...r.rounds.map((x) => x.rate));
    r.relayCpuUs = pick('relayCpuUs');
    r.upstreamCpuUs = pick('upstreamCpuUs');
    r.loadgenCpuUs = pick('loadgenCpuUs');
    r.relayCores = pick('relayCores');
    r.upstreamCores = pick('upstreamCores');
    r.loadgenCores = pick('loadgenCores');
    r.machineBusy = pick('machineBusy');
    log(`${sc.name}: ${r.rate.toFixed(0)} msg/s median, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms (per-round p99 median ${r.p99Median.toFixed(3)} ms)`);
  }
}

/** Median over latency rounds of (scenario p99 − floor p99 in the same round pair). */
function addedP99(sc, floor) {
  const a = sc.result.p99Rounds;
  const b = floor.result.p99Rounds;
  return median(a.slice(0, Math.min(a.length, b.length)).map((x, i) => x - b[i]));
}

// ------------------------------------------------------------------------------ report

const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '—');

function table(rows, floor) {
  const F = floor.result;
  const lines = [
    '| scenario | msgs/s (median; min–max) | × floor | relay CPU µs/msg | × floor | server CPU µs/msg | setup CPU µs/session | × floor | RSS KiB/idle session | × floor | RTT p50 ms | × floor | RTT p99 ms (all samples) | p99, median of rounds | added p99 vs floor, median of round pairs (ms) | × floor p99 |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const sc of rows) {
    const r = sc.result;
    lines.push(
      `| ${sc.name} | ${f0(r.rate)} (${f0(r.rateMin)}–${f0(r.rateMax)}) | ${ratio(r.rate, F.rate)} | ${f1(r.relayCpuUs)} | ${ratio(r.relayCpuUs, F.relayCpuUs)} | ${sc.noServer ? '—' : f1(r.upstreamCpuUs)} | ` +
        `${f0(r.setup.setupCpuUs)} | ${ratio(r.setup.setupCpuUs, F.setup.setupCpuUs)} | ${f2(r.setup.rssPerSessionKiB)} | ${ratio(r.setup.rssPerSessionKiB, F.setup.rssPerSessionKiB)} | ` +
        `${f3(r.p50)} | ${ratio(r.p50, F.p50)} | ${f3(r.p99)} | ${f3(r.p99Median)} | ${sc === floor || !sc.sameRoundsAsFloor ? '—' : f3(addedP99(sc, floor))} | ${ratio(r.p99Median, F.p99Median)} |`,
    );
  }
  return lines.join('\n');
}

function contextTable(rows) {
  const lines = [
    '| scenario | relay cores busy | server cores busy | loadgen cores busy | machine busy (all processes, 2 cores) | loadgen CPU µs/msg | logins/s | setup: server CPU µs/session | relay RSS before (MiB) | server RSS KiB/idle session | latency samples |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const sc of rows) {
    const r = sc.result;
    lines.push(
      `| ${sc.name} | ${f2(r.relayCores)} | ${sc.noServer ? '—' : f2(r.upstreamCores)} | ${f2(r.loadgenCores)} | ${f0(r.machineBusy * 100)}% | ${f1(r.loadgenCpuUs)} | ${f0(r.setup.loginsPerSec)} | ` +
        `${sc.noServer ? '—' : f0(r.setup.setupUpstreamCpuUs)} | ${f1(r.setup.rssBaseMiB)} | ${sc.noServer ? '—' : f2(r.setup.upstreamRssPerSessionKiB)} | ${r.latencyN} |`,
    );
  }
  return lines.join('\n');
}

function targets(s) {
  const out = [];
  const add = (what, target, measured, met) => out.push({ what, target, measured, met });
  const F = s.floor.result;
  const G = s.gw1.result;
  // The targets of the performance issue (#11): ratios against the floor measured in the same run.
  add('one worker throughput vs floor', '≥ 0.90×', ratio(G.rate, F.rate), G.rate / F.rate >= 0.9);
  add('CPU per message vs floor (workers 1)', '≤ 1.15×', `${ratio(G.relayCpuUs, F.relayCpuUs)} (${f1(G.relayCpuUs)} vs ${f1(F.relayCpuUs)} µs)`, G.relayCpuUs / F.relayCpuUs <= 1.15);
  /** The reps behind a median, gateway then floor, when there were several. */
  const reps = (g, f, fmt) => (g.length > 1 ? `; medians of ${g.length} interleaved reps: gateway ${g.map(fmt).join(', ')}, floor ${f.map(fmt).join(', ')}` : '');
  add('CPU per session setup vs floor (workers 1)', '≤ 1.20×', `${ratio(G.setup.setupCpuUs, F.setup.setupCpuUs)} (${f0(G.setup.setupCpuUs)} vs ${f0(F.setup.setupCpuUs)} µs${reps(G.setup.setupCpuUsReps, F.setup.setupCpuUsReps, f0)})`, G.setup.setupCpuUs / F.setup.setupCpuUs <= 1.2);
  add('RSS per idle authenticated session vs floor (workers 1)', '≤ 1.10×', `${ratio(G.setup.rssPerSessionKiB, F.setup.rssPerSessionKiB)} (${f2(G.setup.rssPerSessionKiB)} vs ${f2(F.setup.rssPerSessionKiB)} KiB${reps(G.setup.rssPerSessionKiBReps, F.setup.rssPerSessionKiBReps, f2)})`, G.setup.rssPerSessionKiB / F.setup.rssPerSessionKiB <= 1.1);
  const added = addedP99(s.gw1, s.floor);
  add(`added round-trip p99 at ${P.rate} msg/s vs floor (workers 1)`, '< 0.5 ms', `${f3(added)} ms (median over ${P.latencyRounds} round pairs; all samples: ${f3(G.p99)} vs ${f3(F.p99)} ms)`, added < 0.5);
  if (s.gwp && s.pws) {
    add('gateway+Prosody vs Prosody mod_websocket msgs/s', '≥ 1.50×', `${ratio(s.gwp.result.rate, s.pws.result.rate)} (${f0(s.gwp.result.rate)} vs ${f0(s.pws.result.rate)})`, s.gwp.result.rate / s.pws.result.rate >= 1.5);
  }
  if (s.gw2) add('--workers 2 vs one worker msgs/s', '≥ 1.80×', `${ratio(s.gw2.result.rate, G.rate)} (${f0(s.gw2.result.rate)} vs ${f0(G.rate)})`, s.gw2.result.rate / G.rate >= 1.8);
  return out;
}

function writeSection(kind, body) {
  log(`wrote the ${kind} section of ${results.writeSection('run.js', kind, body)}`);
}

const { environment } = results;

// ------------------------------------------------------------------------------ main

async function mainBench() {
  const startLoad = sys.loadAverage();
  const t0 = Date.now();
  log(`bench/run.js ${KIND}: node ${process.version}, nproc ${os.availableParallelism()}, load ${startLoad}`);
  const fake = await sys.startFake();
  started.push(fake);
  pool = await LoadgenPool.start(P.loadgens);
  started.push(pool);
  const floor = await sys.startFloor({ upstreamPort: fake.port });
  started.push(floor);
  const gw1 = await sys.startGateway({ upstreamPort: fake.port, workers: 1 });
  started.push(gw1);
  const gw2 = await sys.startGateway({ upstreamPort: fake.port, workers: 2 });
  started.push(gw2);
  const common = { domain: 'localhost', sasl: 'PLAIN', upstream: fake, sameRoundsAsFloor: true };
  /** A fresh relay of the same kind for each setup rep (see setupRounds). */
  const fresh = (start) => async () => {
    const t = await start();
    started.push(t);
    return t;
  };
  const s = {
    floor: { key: 'floor', name: 'floor relay → fake c2s', url: floor.url, relay: floor, fresh: fresh(() => sys.startFloor({ upstreamPort: fake.port })), ...common },
    gw1: { key: 'gw1', name: 'gateway --workers 1 → fake c2s', url: gw1.url, relay: gw1, fresh: fresh(() => sys.startGateway({ upstreamPort: fake.port, workers: 1 })), ...common },
    gw2: { key: 'gw2', name: 'gateway --workers 2 → fake c2s', url: gw2.url, relay: gw2, fresh: fresh(() => sys.startGateway({ upstreamPort: fake.port, workers: 2 })), ...common },
  };
  await runFamily([s.floor, s.gw1, s.gw2]);
  if (!SMOKE) {
    // The fake family is done: stop its relays so the Prosody family runs on a quieter machine.
    for (const t of [s.floor.relay, s.gw2.relay]) await t.stop();
  }

  let prosodyNote = '';
  if (flag('--no-prosody')) prosodyNote = 'Prosody scenarios skipped (--no-prosody).';
  else {
    // One private Prosody per scenario, so both have seen the same number of sessions come and go
    // (Prosody 0.12 gets slower per message after thousands of sessions came and went).
    const prosodyA = await sys.startProsodyTarget();
    if (prosodyA === null) {
      prosodyNote = 'Prosody scenarios skipped: no `prosody` executable (apt-get install prosody).';
      log(prosodyNote);
    } else {
      started.push(prosodyA);
      const prosodyB = await sys.startProsodyTarget();
      started.push(prosodyB);
      const gwp = await sys.startGateway({ upstreamPort: prosodyA.c2sPort, workers: 1, name: 'gateway-prosody' });
      started.push(gwp);
      const pc = { domain: 'anon.localhost', sasl: 'ANONYMOUS' };
      s.gwp = { key: 'gwp', name: 'gateway --workers 1 → Prosody c2s', url: gwp.url, relay: gwp, upstream: prosodyA, ...pc };
      // Prosody is relay and server at once: its CPU counts as relay CPU, "server" is empty.
      const none = { cpu: () => 0, rss: () => 0 };
      s.pws = { key: 'pws', name: 'Prosody mod_websocket (no gateway)', url: prosodyB.url, relay: prosodyB, ...pc, upstream: none, noServer: true };
      await runFamily([s.gwp, s.pws], { trafficFirst: true });
    }
  }
  await harness.cleanup();
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);

  const rows = [s.floor, s.gw1, s.gw2, s.gwp, s.pws].filter(Boolean);
  const main = table(rows, s.floor);
  console.log(`\n${main}\n`);
  if (SMOKE) {
    if (WRITE) writeSection('smoke', `# Relay benchmark, smoke run (\`npm run bench:smoke\`)\n\nSpeed is not asserted; figures from tiny N are not meaningful.\n\n${environment(startLoad)}\n\n${main}`);
    return;
  }
  const t = targets(s);
  const targetLines = ['| target | goal | measured | met? |', '|---|---|---|---|', ...t.map((x) => `| ${x.what} | ${x.target} | ${x.measured} | ${x.met ? '**met**' : '**not met**'} |`)];
  console.log(targetLines.join('\n'));
  const extra = [];
  if (s.gwp && s.pws) {
    const a = s.gwp.result;
    const b = s.pws.result;
    extra.push(
      `Gateway+Prosody vs Prosody's mod_websocket: msgs/s ${ratio(a.rate, b.rate)}; CPU per message, gateway + Prosody ${f1(a.relayCpuUs + a.upstreamCpuUs)} µs vs Prosody alone ${f1(b.relayCpuUs)} µs (${ratio(a.relayCpuUs + a.upstreamCpuUs, b.relayCpuUs)}), of which Prosody ${f1(a.upstreamCpuUs)} µs (${ratio(a.upstreamCpuUs, b.relayCpuUs)} of its mod_websocket cost); ` +
        `RTT p99 ${f3(a.p99)} vs ${f3(b.p99)} ms; setup CPU gateway ${f0(a.setup.setupCpuUs)} + Prosody ${f0(a.setup.setupUpstreamCpuUs)} µs vs Prosody ${f0(b.setup.setupCpuUs)} µs; ` +
        `RSS per idle session gateway ${f2(a.setup.rssPerSessionKiB)} + Prosody ${f2(a.setup.upstreamRssPerSessionKiB)} KiB vs Prosody ${f2(b.setup.rssPerSessionKiB)} KiB.`,
    );
  }
  if (s.gw2) extra.push(`--workers 2 / --workers 1: msgs/s ${ratio(s.gw2.result.rate, s.gw1.result.rate)}, CPU per message ${ratio(s.gw2.result.relayCpuUs, s.gw1.result.relayCpuUs)}, setup CPU ${ratio(s.gw2.result.setup.setupCpuUs, s.gw1.result.setup.setupCpuUs)}.`);
  if (prosodyNote) extra.push(prosodyNote);
  const body = `# Relay benchmark (\`npm run bench\` → \`node bench/run.js\`)

\`\`\`
npm run build && node bench/run.js${argv.length ? ` ${argv.join(' ')}` : ''}
\`\`\`

${environment(startLoad)}
- **Duration:** ${minutes} min. Gateway command line (ports vary): \`${gw1.command}\`
- **Parameters:** setup/idle N = ${P.sessions} sessions per scenario (after ${P.warmSessions} warm-up logins; fake-c2s family: median of ${P.setupReps} interleaved reps on the same relays, Prosody family: one); throughput ${P.echoSessions} sessions × window ${P.window}, ${P.rounds} rounds of ${P.seconds} s (after ${P.warmupMs / 1000} s warm-up) interleaved across scenarios, median shown; latency open loop at ${P.rate} msg/s total over the same sessions, ${P.latencyRounds} rounds of ${P.latencySeconds} s (after 0.5 s) per scenario, interleaved; ${P.loadgens} load-generator processes (\`ws\` clients with a zero masking key and no UTF-8 check, to leave more CPU to the relays); client sockets from 127.0.0.2–127.0.0.${1 + P.srcCount}; messages ~230 bytes ASCII. Fake-c2s family: setup/idle first on fresh relays, then traffic. Prosody family: one fresh private Prosody per scenario (SASL ANONYMOUS), traffic first, then setup/idle (Prosody 0.12 gets 2.5–3× slower per message once a few thousand sessions have come and gone, even after they closed, so traffic is measured on fresh instances).

${main}

"msgs/s" counts echoed messages (each relayed once each way). "relay CPU" is utime+stime from /proc of the relay process(es) (gateway primary + workers summed for --workers 2; Prosody itself for mod_websocket) divided by echoed messages; "server CPU" is the upstream's (fake c2s or Prosody) per message. Setup CPU: relay CPU while N sessions log in (WebSocket handshake, open, SASL, restart, bind), divided by N. RSS: relay VmRSS (summed over processes) with N idle authenticated sessions minus before them, divided by N. RTT: send → whole echo back, at a fixed offered rate, from the load generator's clock; "added p99" is the median over interleaved round pairs of (scenario p99 − floor p99), which cancels most of the machine's drift.

## Targets

${targetLines.join('\n')}

${extra.map((x) => `- ${x}`).join('\n')}

## Where the CPU went (medians of the throughput rounds)

${contextTable(rows)}

With 2 cores shared by relay, upstream and load generator (and other jobs on the machine), throughput is bounded by total CPU, not by the relay alone: compare relay CPU per message for the relay's own cost.
`;
  if (WRITE) writeSection('full', body);
}

// ------------------------------------------------------------------------------ profile

async function mainProfile() {
  const { summarize } = require('./lib/cpuprofile');
  const startLoad = sys.loadAverage();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xmppgw-cpuprof-'));
  const fake = await sys.startFake();
  started.push(fake);
  pool = await LoadgenPool.start(P.loadgens);
  started.push(pool);
  const sections = [];
  const seconds = num('--profile-seconds', 12);
  const perEcho = {};
  const phases = (argv.includes('--phases') ? argv[argv.indexOf('--phases') + 1] : 'echo,floor-echo,setup,heap').split(',');
  for (const phase of ['echo', 'floor-echo', 'setup', 'floor-setup'].filter((p) => phases.includes(p))) {
    const phaseDir = path.join(dir, phase);
    fs.mkdirSync(phaseDir);
    const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', phaseDir, '--cpu-prof-interval', '200'];
    const floor = phase.startsWith('floor-');
    const gw = floor ? await sys.startFloor({ upstreamPort: fake.port, nodeArgs }) : await sys.startGateway({ upstreamPort: fake.port, workers: 1, nodeArgs });
    started.push(gw);
    const who = floor ? 'floor relay' : 'gateway --workers 1';
    const sc = { key: `prof-${phase}`, name: `${who} (profiled, ${phase})`, url: gw.url, relay: gw, upstream: fake, domain: 'localhost', sasl: 'PLAIN' };
    let note;
    let echoes = null;
    if (!phase.endsWith('setup')) {
      const r = await pool.login(loginArgs(sc, `echo-${sc.key}`, P.echoSessions));
      check(r.failed === 0, `profile: ${r.failed} logins failed`);
      const saveSeconds = P.seconds;
      P.seconds = seconds;
      const round = await throughputRound(sc);
      P.seconds = saveSeconds;
      await closeGroup(sc, `echo-${sc.key}`);
      echoes = round.totalEchoed;
      note = `${who}: ${P.echoSessions} sessions × window ${P.window}, ${seconds} s closed-loop echo (after ${P.warmupMs / 1000} s warm-up): ${f0(round.rate)} msg/s under the profiler, ${f1(round.relayCpuUs)} µs relay CPU per echoed message; ${echoes} echoes over the whole profile`;
    } else {
      const n = num('--profile-sessions', 3000);
      const s0 = snapshot(sc);
      for (let i = 0; i < 2; i++) {
        const r = await pool.login(loginArgs(sc, `setup-${i}`, n), 300_000);
        check(r.failed === 0, `profile: ${r.failed} logins failed`);
        await closeGroup(sc, `setup-${i}`);
      }
      const d = delta(s0, snapshot(sc));
      note = `2 × ${n} logins (WebSocket handshake, open, SASL PLAIN, restart, bind) each followed by <close/>: ${f0((d.relay / (2 * n)) * 1e6)} µs ${floor ? 'floor' : 'gateway'} CPU per session (login and logout) under the profiler`;
    }
    await gw.stop();
    const file = fs.readdirSync(phaseDir).find((f) => f.endsWith('.cpuprofile'));
    if (!check(file !== undefined, `profile: no .cpuprofile written for ${phase}`)) continue;
    const sum = summarize(path.join(phaseDir, file), sys.ROOT);
    if (echoes !== null) perEcho[phase] = { sum, echoes };
    if (phase === 'floor-echo') continue; // only used for the side-by-side table below
    if (phase === 'floor-setup') {
      // Only the busy time per session, next to the gateway's (same profiler, same interval).
      sections.push(`## Floor relay setup under the same profiler\n\n${note}; profile: ${f0(sum.busyMs)} ms busy.\n`);
      console.log(sections[sections.length - 1]);
      continue;
    }
    const top = sum.functions.filter((f) => f.name !== '(idle)').slice(0, 25);
    const lines = sum.lines.filter((l) => !l.fn.startsWith('(')).slice(0, 15);
    sections.push(`## ${phase === 'echo' ? 'Echo hot path' : 'Session setup and teardown'}

${note}. Profile: ${f0(sum.busyMs)} ms busy of ${f0(sum.totalMs)} ms, ${sum.samples} samples (\`${path.join(phaseDir, file)}\`).

By where the busy time went:

| where | self ms | % of busy |
|---|---:|---:|
${sum.categories.filter((c) => c.pctBusy !== null).map((c) => `| ${c.name} | ${f0(c.us / 1000)} | ${f1(c.pctBusy)}% |`).join('\n')}

Top self-time functions (dist/ positions mapped to src/ through the source maps):

| # | function | file:line | self ms | % of busy | called from (gateway code, share of this function's time) |
|---:|---|---|---:|---:|---|
${top.map((f, i) => `| ${i + 1} | \`${f.name}\` | ${f.where || '(native)'} | ${f1(f.us / 1000)} | ${f1(f.pctBusy)}% | ${f.caller && !f.where.startsWith('src/') ? `${f.caller.where} (${f0(f.caller.share * 100)}%)` : ''} |`).join('\n')}

Top self-time lines (JavaScript only):

| # | file:line | in | self ms | % of busy |
|---:|---|---|---:|---:|
${lines.map((l, i) => `| ${i + 1} | ${l.where} | \`${l.fn}\` | ${f1(l.us / 1000)} | ${f1(l.pctBusy)}% |`).join('\n')}
`);
    console.log(sections[sections.length - 1]);
  }
  if (perEcho.echo && perEcho['floor-echo']) {
    const side = sideBySide(perEcho.echo, perEcho['floor-echo']);
    console.log(side);
    sections.splice(1, 0, side);
  }
  if (!flag('--no-heap') && phases.includes('heap')) sections.push(await heapPhase(dir, fake));
  await harness.cleanup();
  const body = `# Gateway CPU profile (\`node bench/run.js --profile\`)

\`\`\`
npm run build && node bench/run.js --profile${argv.filter((a) => a !== '--profile').length ? ` ${argv.filter((a) => a !== '--profile').join(' ')}` : ''}
\`\`\`

The gateway runs as \`node --cpu-prof --cpu-prof-interval 200 bin/xmpp-ws-gateway.js --workers 1 …\` (limits off, \`--log-level warn\`) in front of the fake c2s; the profile is written when it exits on SIGTERM.

${environment(startLoad)}

${sections.join('\n')}`;
  if (WRITE) writeSection('profile', body);
}

/** Gateway vs floor self time per echoed message, function by function (echo profiles). */
function sideBySide(g, f) {
  const key = (x) => `${x.name} ${x.where}`;
  const fl = new Map(f.sum.functions.map((x) => [key(x), x]));
  const rows = g.sum.functions.filter((x) => x.name !== '(idle)').slice(0, 15);
  const busyG = (g.sum.busyMs * 1000) / g.echoes;
  const busyF = (f.sum.busyMs * 1000) / f.echoes;
  const cats = new Map(f.sum.categories.map((c) => [c.name, c]));
  return `## Gateway next to the floor, per echoed message (same load, both profiled)

Busy CPU per echoed message under the profiler: gateway ${f1(busyG)} µs, floor ${f1(busyF)} µs (${ratio(busyG, busyF)}).

| where | gateway µs/echo | floor µs/echo |
|---|---:|---:|
${g.sum.categories.filter((c) => c.pctBusy !== null).map((c) => `| ${c.name} | ${f2(c.us / g.echoes)} | ${cats.has(c.name) ? f2(cats.get(c.name).us / f.echoes) : '0'} |`).join('\n')}

| function | file:line | gateway µs/echo | floor µs/echo | called from in the gateway |
|---|---|---:|---:|---|
${rows.map((x) => `| \`${x.name}\` | ${x.where || '(native)'} | ${f2(x.us / g.echoes)} | ${fl.has(key(x)) ? f2(fl.get(key(x)).us / f.echoes) : '—'} | ${x.caller && !x.where.startsWith('src/') ? x.caller.where : ''} |`).join('\n')}
`;
}

/** Whether a snapshot file ends its JSON (a loaded machine can pause the writer longer than the size check waits). */
function jsonComplete(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const tail = Buffer.alloc(Math.min(64, size));
    fs.readSync(fd, tail, 0, tail.length, size - tail.length);
    return tail.toString('latin1').trimEnd().endsWith('}');
  } finally {
    fs.closeSync(fd);
  }
}

/** Waits until `dir` holds `count` .heapsnapshot files whose sizes have stopped changing. */
async function snapshotsWritten(dir, count, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).sort();
    const sig = files.map((f) => `${f}:${fs.statSync(path.join(dir, f)).size}`).join(',');
    if (sig !== last) {
      last = sig;
      stableSince = Date.now();
    } else if (files.length >= count && Date.now() - stableSince > 1500 && files.every((f) => jsonComplete(path.join(dir, f)))) return files.map((f) => path.join(dir, f));
    await sys.sleep(250);
  }
  throw new Error(`heap snapshot ${count} not written in ${dir}`);
}

/** Heap snapshots (SIGUSR2) before and after N idle sessions: what one session keeps on the JS heap. */
async function heapOf(kind, dir, fake, n) {
  const { diff } = require('./lib/heapsnapshot');
  const phaseDir = path.join(dir, `heap-${kind}`);
  fs.mkdirSync(phaseDir);
  const nodeArgs = ['--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', phaseDir];
  const relay = kind === 'gateway' ? await sys.startGateway({ upstreamPort: fake.port, workers: 1, nodeArgs }) : await sys.startFloor({ upstreamPort: fake.port, nodeArgs });
  started.push(relay);
  const sc = { key: `heap-${kind}`, name: `${kind} (heap)`, url: relay.url, relay, upstream: fake, domain: 'localhost', sasl: 'PLAIN' };
  const warm = await pool.login(loginArgs(sc, 'heap-warm', 200));
  check(warm.failed === 0, `heap ${kind}: warm-up logins failed`);
  await closeGroup(sc, 'heap-warm');
  await sys.sleep(1000);
  process.kill(relay.rootPid, 'SIGUSR2');
  await snapshotsWritten(phaseDir, 1);
  const rss0 = relay.rss();
  const r = await pool.login(loginArgs(sc, 'heap-idle', n), 300_000);
  check(r.failed === 0, `heap ${kind}: ${r.failed} logins failed`);
  await sys.sleep(2000);
  const rss1 = relay.rss();
  process.kill(relay.rootPid, 'SIGUSR2');
  const [before, after] = await snapshotsWritten(phaseDir, 2);
  await closeGroup(sc, 'heap-idle');
  await relay.stop();
  const d = diff(before, after);
  return { d, rssPerSession: (rss1 - rss0) / n, heapPerSession: (d.totalAfter - d.totalBefore) / n };
}

async function heapPhase(dir, fake) {
  const n = num('--heap-sessions', 2000);
  const g = await heapOf('gateway', dir, fake, n);
  const f = await heapOf('floor', dir, fake, n);
  const floorBy = new Map(f.d.rows.map((x) => [`${x.type}\u0000${x.name}`, x]));
  const rows = g.d.rows.filter((x) => x.size > 0).slice(0, 30);
  const cell = (x) => (x === undefined ? '0' : f0(x.size / n));
  const section = `## Memory per idle session (heap snapshots)

\`--heapsnapshot-signal=SIGUSR2\` on the gateway (\`--workers 1\`) and on the floor relay, each in front of the fake c2s: a snapshot after 200 warm-up sessions came and went, then ${n} idle authenticated sessions, a second snapshot (V8 collects garbage before each). JS heap (self sizes) per session: gateway **${f0(g.heapPerSession)} B**, floor ${f0(f.heapPerSession)} B. RSS per session over the same step (after the first snapshot; less reliable than the bench/idle.js figure): gateway ${f2(g.rssPerSession)} KiB, floor ${f2(f.rssPerSession)} KiB. What is in RSS but not here is outside the V8 heap: kernel-side socket state is not in RSS at all, but libuv handles, malloc'd read buffers and allocator slack are.

Top additions to the gateway's heap per session, next to the floor's for the same constructor:

| type | constructor / name | count per session | gateway B/session | floor B/session |
|---|---|---:|---:|---:|
${rows.map((x) => `| ${x.type} | \`${x.name.replace(/\|/g, '\\|').replace(/`/g, "'")}\` | ${f2(x.count / n)} | ${f0(x.size / n)} | ${cell(floorBy.get(`${x.type}\u0000${x.name}`))} |`).join('\n')}
`;
  console.log(section);
  return section;
}

harness.finish(KIND === 'profile' ? mainProfile() : mainBench(), `${KIND}: all scenarios worked`);
