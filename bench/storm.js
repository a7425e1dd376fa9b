'use strict';
/**
 * Reconnect storm: N sessions online through one relay in front of the fast fake c2s server; the
 * relay goes away, and every client comes back through a second relay at once, with the jittered
 * exponential backoff of browser XMPP libraries (bench/lib/loadgen.js, Storm). Measured for the
 * gateway and for the floor relay (bench/lib/floor-relay.js), one after the other, on fresh processes.
 *
 *   gateway  A (limits off: it only gets the sessions online): --redirect-uri ws://127.0.0.1:<B>/xmpp-websocket --drain-timeout 0, then SIGTERM:
 *               every session gets <close see-other-uri> (RFC 7395 §3.6.1) and the client follows it.
 *            B: the gateway with its DEFAULT admission limits (--max-connections, per-IP cap and
 *               rate, --connect-timeout, pre-connect queue, --upstream-connect-rate): the point is
 *               that the defaults let a storm through. Each client has its own source address
 *               (127.0.x.y), as browsers behind their own NATs would.
 *   floor    A is killed (SIGTERM ends the process); clients reconnect to floor B, their configured
 *            fallback (the floor has no redirect).
 *
 * Reported per relay: time from the SIGTERM until all N are logged in again, per-session reconnect
 * time (drop → logged in) p50/p99, B's CPU over the storm (total and per session), B's peak RSS
 * (VmHWM), handshakes refused by limits (B's xmppgw_ws_handshakes_total by result, and the HTTP
 * statuses clients saw), failed attempts, attempts per session. The policy's own floor: the first
 * retry waits 2–3 s (Stanza), so no client can be back before 2 s.
 *
 *   npm run build && node bench/storm.js                 N = 10 000 (--sessions N); writes its section of bench/RESULTS.md
 *   npm run build && node bench/storm.js --smoke         N = 100, exit 1 if any client fails to come back (never on speed)
 *
 * Options: --sessions N --per-address K (1; K > 1: K clients share an address, like a NAT) --loadgens K (2) --backoff-base-ms B (1000: Stanza's unit) --no-write --write (smoke)
 *          --no-floor. Bounded: every wait has a deadline; a hard deadline (10 min; smoke 2 min) ends the run.
 */
const sys = require('./lib/system');
const { Harness } = require('./lib/harness');
const { openFileLimit } = require('../dist/util/fd-limit');
const results = require('./lib/results');
const { LoadgenPool } = require('./lib/loadgen');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const num = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const SMOKE = flag('--smoke');
/**
 * The hard open-file limit of this process, which its children inherit and which only
 * CAP_SYS_RESOURCE can raise (a container usually lacks it; prlimit then fails); no cap when unknown or unlimited.
 */
const HARD_NOFILE = openFileLimit(undefined, 'hard') ?? Infinity;
/** A single-process relay holds two descriptors per session (WebSocket and upstream TCP), plus its own. */
const RELAY_OWN_FDS = 200;
const FULL_N = 10_000;
/** The full run's N: 10 000, or the most one relay process can hold under the hard limit (said in the results). */
const FITTING_N = Math.min(FULL_N, Math.floor((HARD_NOFILE - RELAY_OWN_FDS) / 2));
const N = num('--sessions', SMOKE ? 100 : FITTING_N);
const LOADGENS = num('--loadgens', 2);
const BASE_MS = num('--backoff-base-ms', 1000);
/** Sessions sharing one source address (1: every client its own, as browsers on their own networks; more: a NAT). */
const PER_ADDRESS = num('--per-address', 1);
const WRITE = SMOKE ? flag('--write') : !flag('--no-write');
const HARD_DEADLINE_MS = SMOKE ? 120_000 : 10 * 60_000;
const STORM_DEADLINE_MS = SMOKE ? 60_000 : 240_000;
/** Open files per relay and for the fake server: two sockets per session while old and new overlap, within the hard limit. */
const NOFILE = Math.min(HARD_NOFILE, Math.max(4096, 4 * N + 1024));
if (2 * N + RELAY_OWN_FDS > HARD_NOFILE) {
  console.error(`bench/storm.js: ${N} sessions need ${2 * N + RELAY_OWN_FDS} descriptors in one relay process; the hard limit here is ${HARD_NOFILE} (raise it with ulimit -Hn as root, or use --sessions ${FITTING_N})`);
  process.exit(2);
}
/** Why a full run has fewer than 10 000 sessions, for the log and the results. */
const N_NOTE = !SMOKE && N === FITTING_N && N < FULL_N
  ? `N = ${N}, not ${FULL_N}: each relay process holds two descriptors per session and this machine's hard open-file limit is ${HARD_NOFILE} per process, which only CAP_SYS_RESOURCE can raise (not available here)`
  : null;

const harness = new Harness('bench/storm.js', HARD_DEADLINE_MS);
const { log, check, started } = harness;
let pool = null;

/** Listen-queue overflows and drops so far, machine-wide (/proc/net/netstat TcpExt): SYNs a full accept queue turned away. */
function listenDrops() {
  try {
    const lines = require('node:fs').readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/).map(Number);
    return { overflows: values[names.indexOf('ListenOverflows')] ?? NaN, drops: values[names.indexOf('ListenDrops')] ?? NaN };
  } catch {
    return { overflows: NaN, drops: NaN };
  }
}

const percentile = (sorted, p) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);

/** Sums the storm status of every load generator. */
async function status(tag, withSamples = false) {
  const all = await pool.all('stormStatus', { tag, withSamples });
  const refused = {};
  for (const r of all) for (const [k, v] of Object.entries(r.refused)) refused[k] = (refused[k] ?? 0) + v;
  return {
    ready: all.reduce((s, r) => s + r.ready, 0),
    dropped: all.reduce((s, r) => s + r.dropped, 0),
    redirected: all.reduce((s, r) => s + r.redirected, 0),
    back: all.reduce((s, r) => s + r.back, 0),
    attempts: all.reduce((s, r) => s + r.attempts, 0),
    failures: all.reduce((s, r) => s + r.failures, 0),
    errorSamples: all.flatMap((r) => r.errorSamples),
    lastBackAt: Math.max(...all.map((r) => r.lastBackAt)),
    refused,
    reconnectMs: withSamples ? all.flatMap((r) => r.reconnectMs) : [],
  };
}

/** Handshake outcomes counted by gateway B, by result. */
async function handshakeResults(target) {
  const r = await sys.httpGet(target.opsPort, '/metrics', 5000);
  const out = {};
  for (const m of r.body.matchAll(/^xmppgw_ws_handshakes_total\{result="([a-z_]+)"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

async function storm(kind, fake) {
  const tag = `storm-${kind}`;
  let a;
  let b;
  if (kind === 'gateway') {
    b = await sys.startGateway({ upstreamPort: fake.port, workers: 1, nofile: NOFILE, name: 'gateway B', defaultLimits: true });
    started.push(b);
    a = await sys.startGateway({
      // A only gets the sessions online; its limits are off so a NAT-shaped run (--per-address) can log in.
      upstreamPort: fake.port, workers: 1, nofile: NOFILE, name: 'gateway A',
      extra: ['--redirect-uri', b.url, '--drain-timeout', '0'],
    });
    started.push(a);
  } else {
    b = await sys.startFloor({ upstreamPort: fake.port, nofile: NOFILE });
    started.push(b);
    a = await sys.startFloor({ upstreamPort: fake.port, nofile: NOFILE });
    started.push(a);
  }
  log(`${kind}: logging in ${N} sessions through A, ${PER_ADDRESS} per source address`);
  const srcCount = Math.max(1, Math.ceil(N / PER_ADDRESS));
  const login = await pool.login({ tag, url: a.url, count: N, domain: 'localhost', sasl: 'PLAIN', srcCount, concurrency: 200 }, 600_000);
  check(login.ok === N, `${kind}: ${login.failed} of ${N} logins through A failed: ${login.errorSamples.join('; ')}`);
  await pool.all('stormArm', { tag, fallbackUrl: b.url, baseMs: BASE_MS, deadlineMs: STORM_DEADLINE_MS });
  await sys.sleep(SMOKE ? 300 : 2000);

  const cpu0 = b.cpu();
  const rss0 = b.rss();
  const drops0 = listenDrops();
  const t0 = Date.now();
  log(`${kind}: SIGTERM to A; clients come back through B`);
  a.child.kill('SIGTERM');
  let peakRss = rss0;
  let st = await status(tag);
  while (st.back < login.ok && Date.now() - t0 < STORM_DEADLINE_MS) {
    await sys.sleep(100);
    peakRss = Math.max(peakRss, b.rss());
    st = await status(tag);
  }
  const cpu1 = b.cpu();
  const drops1 = listenDrops();
  const hwm = sys.peakRssKiB(b.rootPid);
  st = await status(tag, true);
  await pool.all('stormStop', { tag });
  const aExit = await new Promise((resolve) => {
    if (a.child.exitCode !== null || a.child.signalCode !== null) resolve(a.child.exitCode ?? a.child.signalCode);
    else a.child.once('exit', (code, signal) => resolve(code ?? signal));
  });
  check(st.back === login.ok, `${kind}: only ${st.back} of ${login.ok} sessions came back within ${STORM_DEADLINE_MS / 1000} s (${st.failures} failed attempts: ${st.errorSamples.join('; ')})`);
  check(st.dropped === login.ok, `${kind}: ${st.dropped} of ${login.ok} sessions saw A go away`);
  if (kind === 'gateway') {
    check(aExit === 0, `gateway A exited with ${aExit} after draining`);
    check(st.redirected === login.ok, `gateway: ${st.redirected} of ${login.ok} sessions got <close see-other-uri>`);
  }
  const handshakes = kind === 'gateway' ? await handshakeResults(b) : null;
  const sorted = [...st.reconnectMs].sort((x, y) => x - y);
  const r = {
    kind,
    n: login.ok,
    back: st.back,
    allOnlineS: (st.lastBackAt - t0) / 1000,
    p50S: percentile(sorted, 50) / 1000,
    p99S: percentile(sorted, 99) / 1000,
    cpuS: cpu1 - cpu0,
    cpuPerSessionUs: ((cpu1 - cpu0) / Math.max(1, st.back)) * 1e6,
    peakRssMiB: Math.max(peakRss, hwm) / 1024,
    rssBeforeMiB: rss0 / 1024,
    attemptsPerSession: st.attempts / Math.max(1, st.dropped),
    refusedByStatus: st.refused,
    failures: st.failures,
    handshakes,
    redirected: st.redirected,
    listenOverflows: drops1.overflows - drops0.overflows,
  };
  log(`${kind}: all ${r.back}/${r.n} back after ${r.allOnlineS.toFixed(2)} s (per session p50 ${r.p50S.toFixed(2)} s, p99 ${r.p99S.toFixed(2)} s); B CPU ${r.cpuS.toFixed(2)} s = ${r.cpuPerSessionUs.toFixed(0)} µs/session; B peak RSS ${r.peakRssMiB.toFixed(0)} MiB; refused ${JSON.stringify(r.refusedByStatus)}; failed attempts ${r.failures}; listen-queue overflows ${r.listenOverflows}${handshakes ? `; B handshakes ${JSON.stringify(handshakes)}` : ''}`);
  await pool.all('close', { tag });
  await b.stop();
  return r;
}

const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');

function table(rows) {
  const lines = [
    '| relay | sessions back | all online after (s) | per session p50 / p99 (s) | B CPU (s) | B CPU µs/session | B peak RSS (MiB) | attempts/session | refused (HTTP status: count) | refused by B (handshakes by result) | failed attempts | listen-queue overflows (machine) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|',
  ];
  for (const r of rows) {
    const refused = Object.entries(r.refusedByStatus).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
    const byB = r.handshakes ? Object.entries(r.handshakes).filter(([k, v]) => k !== 'accepted' && v > 0).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none' : '—';
    lines.push(`| ${r.kind} | ${r.back}/${r.n} | ${f2(r.allOnlineS)} | ${f2(r.p50S)} / ${f2(r.p99S)} | ${f2(r.cpuS)} | ${f0(r.cpuPerSessionUs)} | ${f0(r.peakRssMiB)} | ${f2(r.attemptsPerSession)} | ${refused} | ${byB} | ${r.failures} | ${r.listenOverflows} |`);
  }
  return lines.join('\n');
}

async function main() {
  const startLoad = sys.loadAverage();
  log(`bench/storm.js${SMOKE ? ' --smoke' : ''}: N = ${N}, node ${process.version}, load ${startLoad}`);
  if (N_NOTE !== null) log(N_NOTE);
  const fake = await sys.startFake({ nofile: NOFILE });
  started.push(fake);
  pool = await LoadgenPool.start(LOADGENS);
  started.push(pool);
  const rows = [await storm('gateway', fake)];
  if (!flag('--no-floor')) rows.push(await storm('floor', fake));
  const t = table(rows);
  console.log(`\n${t}\n`);
  if (!WRITE) return;
  const small = N < FULL_N && N !== FITTING_N;
  const title = SMOKE ? 'Reconnect storm, smoke run (`node bench/storm.js --smoke`)' : `Reconnect storm (\`node bench/storm.js\`)${small ? `, small-N smoke measurement (N = ${N}, not the full benchmark)` : ''}`;
  const where = results.writeSection('storm.js', SMOKE ? 'smoke' : PER_ADDRESS === 1 ? 'full' : 'nat', `# ${title}${PER_ADDRESS === 1 ? '' : `, ${PER_ADDRESS} clients per address`}

\`\`\`
npm run build && node bench/storm.js${argv.length ? ` ${argv.join(' ')}` : ''}
\`\`\`

${results.environment(startLoad)}
- **Scenario:** ${N} sessions logged in (SASL PLAIN, bind) through relay A in front of the fake c2s (bench/lib/fake-c2s.js), ${PER_ADDRESS === 1 ? 'each from its own source address' : `${PER_ADDRESS} per source address (a NAT)`}; then A goes away (gateway: SIGTERM with \`--drain-timeout 0 --redirect-uri ws://127.0.0.1:<B>/xmpp-websocket\`, so each session gets \`<close see-other-uri>\`; floor: SIGTERM ends it) and every client logs in again through relay B, after Stanza's backoff (1000 × min(2^k + U(0,1), 32) ms before the k-th attempt: the first comes 2–3 s after the drop). Gateway B runs with its default limits; ${LOADGENS} load-generator processes; \`--workers 1\`.${N_NOTE === null ? '' : `\n- **Why ${N}:** ${N_NOTE}.`}

${t}

"All online after": SIGTERM to A → the last session logged in again through B (no client can be back before 2 s: the backoff's first wait). Per session: its drop → its new login. "B CPU": utime+stime of relay B from the SIGTERM until all were back (the logins of the storm, WebSocket handshake to bind), and per session. "B peak RSS": the higher of VmHWM and VmRSS sampled every 100 ms. "Refused": HTTP statuses the clients' handshakes got (429/503 = a limit), and B's own count by result. "Listen-queue overflows": TcpExt ListenOverflows over the storm, for the whole machine (SYNs dropped because some accept queue was full; each costs its client a 1 s SYN retransmit).
`);
  log(`wrote the storm section of ${where}`);
}

harness.finish(main(), 'storm: every session came back');
