'use strict';
/**
 * What one relay allocates per login, garbage included: the relay runs in this process (the gateway
 * from dist/, or the floor), the bench load generator in child processes, and V8's sampling heap
 * profiler records every sampled allocation over N logins, also the objects minor and major GCs
 * collected (`includeObjectsCollectedByMinorGC`/`MajorGC`). Prints the bytes sampled per login, the
 * GCs in the window, and the allocating functions with the most bytes per login (each with the
 * nearest gateway frame above it). Used for the setup-CPU gap in bench/RESULTS.md.
 *
 *   npm run build && node bench/alloc-profile.js gateway|floor [N=3000] [--root DIR]
 *   (ALLOC_TOP=90 in the environment lists 90 allocating functions instead of 30)
 *
 * `--root DIR`: another built checkout's gateway. Bounded: 3 minutes, then everything stops.
 */
const path = require('node:path');
const inspector = require('node:inspector');
const { PerformanceObserver, constants } = require('node:perf_hooks');
const sys = require('./lib/system');
const { LoadgenPool } = require('./lib/loadgen');
const { Harness } = require('./lib/harness');

const argv = process.argv.slice(2);
const rootAt = argv.indexOf('--root');
const ROOT = rootAt >= 0 ? path.resolve(argv[rootAt + 1]) : path.join(__dirname, '..');
const [KIND = 'gateway', nArg = '3000'] = argv.filter((a, i) => !(rootAt >= 0 && (i === rootAt || i === rootAt + 1)));
const N = Number(nArg);
if (!['gateway', 'floor'].includes(KIND) || !(N > 0)) {
  console.error('usage: node bench/alloc-profile.js gateway|floor [N=3000] [--root DIR]');
  process.exit(2);
}
const h = new Harness('bench/alloc-profile.js', 180_000);
const post = (session, method, params) => new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));

/** The relay in this process: returns its WebSocket URL. */
async function startRelay(upstreamPort) {
  if (KIND === 'floor') {
    const { startFloorRelay } = require('./lib/floor-relay');
    const relay = await startFloorRelay({ upstreamPort });
    h.started.push({ stop: relay.close });
    return `ws://127.0.0.1:${relay.port}/xmpp-websocket`;
  }
  const { parseCli } = require(path.join(ROOT, 'dist/config.js'));
  const { createLogger } = require(path.join(ROOT, 'dist/logger.js'));
  const { Gateway } = require(path.join(ROOT, 'dist/gateway.js'));
  // The limits off, as bench/lib/system.js starts the gateway for the same measurement.
  const cli = parseCli(
    ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--max-connections', '0', '--max-connections-per-ip', '0',
      '--connection-rate-per-ip', '0/1s', '--max-bytes-per-second', '0', '--log-level', 'warn'],
    {},
  );
  if (cli.kind !== 'run') throw new Error(`unexpected CLI result ${cli.kind}`);
  const gateway = new Gateway({ config: cli.config, log: createLogger('warn') });
  const address = await gateway.listen();
  h.started.push({ stop: () => gateway.close() });
  return `ws://127.0.0.1:${address.port}/xmpp-websocket`;
}

/** `function file:line <= nearest gateway frame` → bytes, for every sampled allocation. */
function byFunction(profile) {
  const totals = new Map();
  let all = 0;
  const short = (url) => url.replace(/.*\/(node_modules\/[^/]+|dist|bench)\//, '$1/');
  const walk = (node, gatewayFrame) => {
    const cf = node.callFrame;
    const here = `${cf.functionName || '(anonymous)'} ${short(cf.url)}:${cf.lineNumber + 1}`;
    all += node.selfSize;
    if (node.selfSize > 0) {
      const key = gatewayFrame === null ? here : `${here}  <= ${gatewayFrame}`;
      totals.set(key, (totals.get(key) ?? 0) + node.selfSize);
    }
    const next = /\/dist\//.test(cf.url) ? here : gatewayFrame;
    for (const child of node.children) walk(child, next);
  };
  walk(profile.head, null);
  return { totals, all };
}

async function main() {
  const fake = await sys.startFake();
  h.started.push(fake);
  const url = await startRelay(fake.port);
  const pool = await LoadgenPool.start(2);
  h.started.push(pool);
  const args = (tag, count) => ({ tag, url, count, domain: 'localhost', sasl: 'PLAIN', srcCount: 8, concurrency: 100 });
  await pool.login(args('warm', 300), 60_000);
  await pool.all('close', { tag: 'warm' });
  await sys.sleep(1000);

  const gcs = { minor: 0, major: 0, pauseMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
      else if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
      gcs.pauseMs += e.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const session = new inspector.Session();
  session.connect();
  await post(session, 'HeapProfiler.enable');
  await post(session, 'HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const result = await pool.login(args('measured', N), 120_000);
  const { profile } = await post(session, 'HeapProfiler.stopSampling');
  await sys.sleep(200);
  observer.disconnect();
  h.check(result.ok === N, `all ${N} logins (${result.ok} ok)`);

  const { totals, all } = byFunction(profile);
  const ok = Math.max(1, result.ok);
  h.log(`${KIND}: ${(all / ok / 1024).toFixed(1)} KiB sampled per login; ${gcs.minor} minor and ${gcs.major} major GCs, ${gcs.pauseMs.toFixed(0)} ms of GC pauses over ${result.ok} logins`);
  console.log('bytes/login  allocating function  <= nearest gateway frame');
  for (const [key, bytes] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.ALLOC_TOP || 30))) console.log(String(Math.round(bytes / ok)).padStart(11), ' ', key);
  await pool.all('close', { tag: 'measured' });
}

h.finish(main(), 'done');
