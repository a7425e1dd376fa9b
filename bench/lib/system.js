'use strict';
/**
 * Process plumbing for the benchmarks: /proc readings (CPU ticks, RSS, children, machine CPU) and
 * starting/stopping the processes under test (fake c2s, floor relay, gateway, Prosody). Linux only.
 *
 * Every child is started through `setpriv --pdeathsig KILL` when available, so it dies with the
 * benchmark even if the benchmark is killed; our own children also stop when their stdin closes.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------ /proc

/** utime + stime of one process, in seconds (0 if it is gone). */
function cpuSeconds(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** VmRSS of one process in KiB (0 if it is gone). */
function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmHWM (peak resident set since the process started) of one process in KiB (0 if it is gone). */
function peakRssKiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Direct children of `pid` (from /proc/<pid>/task/<tid>/children). */
function childrenOf(pid) {
  const out = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const c of text.split(/\s+/)) out.push(Number(c));
    }
  } catch {
    // gone
  }
  return out;
}

function openFds(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

const sum = (pids, f) => pids.reduce((s, p) => s + f(p), 0);

/** Whole-machine CPU counters from /proc/stat: busy and total jiffies. */
function machineCpu() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + (line[4] || 0);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

function loadAverage() {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

// ------------------------------------------------------------------------------------ ports, HTTP

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function httpGet(port, pathname, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

// ------------------------------------------------------------------------------------ processes

let setprivChecked = null;
function pdeathsigPrefix() {
  if (setprivChecked === null) {
    try {
      setprivChecked = execFileSync('setpriv', ['--help'], { encoding: 'utf8' }).includes('--pdeathsig') ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
    } catch {
      setprivChecked = [];
    }
  }
  return setprivChecked;
}

/** Spawns `node args…` with a parent-death signal; stdin is a pipe (our children stop when it closes). */
function spawnNode(args, { env, stdout = 'pipe', nofile } = {}) {
  const prefix = pdeathsigPrefix();
  let argv = [...prefix, process.execPath, ...args];
  if (nofile !== undefined) argv = ['prlimit', `--nofile=${nofile}`, '--', ...argv];
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: env ?? process.env, stdio: ['pipe', stdout, 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-8192);
    if (process.env.BENCH_VERBOSE) process.stderr.write(d);
  });
  child.stderrTail = () => stderr;
  return child;
}

/** Resolves with the first JSON line the child prints on stdout (`{"event":"listening",…}`). */
function readyLine(child, what, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms: ${child.stderrTail()}`)), timeoutMs);
    child.stdout.setEncoding('utf8');
    const onData = (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout.removeListener('data', onData);
      child.stdout.resume();
      try {
        resolve(JSON.parse(buf.slice(0, nl)));
      } catch (err) {
        reject(new Error(`${what}: bad ready line ${buf.slice(0, nl)}`));
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited at start (${signal ?? code}): ${child.stderrTail()}`));
    });
  });
}

async function stopChild(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * A process under test: `pids()` is the root plus its current children (cluster workers), so CPU
 * and RSS can be summed over all of them.
 */
class Target {
  constructor(name, child, { port, url, pid }) {
    this.name = name;
    this.child = child;
    this.port = port;
    this.url = url;
    this.rootPid = pid ?? child.pid;
  }

  pids() {
    return [this.rootPid, ...childrenOf(this.rootPid)];
  }

  cpu() {
    return sum(this.pids(), cpuSeconds);
  }

  rss() {
    return sum(this.pids(), rssKiB);
  }

  async stop() {
    if (this.child) await stopChild(this.child);
  }
}

async function startFake({ workers = 1, nofile } = {}) {
  const child = spawnNode([path.join(__dirname, 'fake-c2s.js'), '--workers', String(workers)], { nofile });
  const ready = await readyLine(child, 'fake c2s');
  return new Target('fake-c2s', child, { port: ready.port, pid: ready.pid });
}

/**
 * The floor relay (./floor-relay.js), or with `protocol` the protocol floor
 * (./protocol-floor-relay.js: the floor plus RFC 7395's server-side element split; needs dist/).
 */
async function startFloor({ upstreamPort, nofile, nodeArgs = [], protocol = false }) {
  const script = protocol ? 'protocol-floor-relay.js' : 'floor-relay.js';
  const name = protocol ? 'protocol-floor' : 'floor';
  const child = spawnNode([...nodeArgs, path.join(__dirname, script), '--upstream', `127.0.0.1:${upstreamPort}`], { nofile });
  const ready = await readyLine(child, `${name} relay`);
  return new Target(name, child, { port: ready.port, pid: ready.pid, url: `ws://127.0.0.1:${ready.port}/xmpp-websocket` });
}

/**
 * The gateway CLI with every limit that would throttle a load test off, or (`defaultLimits`) with
 * the admission and rate limits at their defaults; `extra` flags go last (they win).
 */
function gatewayArgs({ root = ROOT, port, opsPort, upstreamPort, workers, defaultLimits = false, extra = [] }) {
  return [
    path.join(root, 'bin', 'xmpp-ws-gateway.js'),
    '--listen', `127.0.0.1:${port}`,
    '--upstream', `127.0.0.1:${upstreamPort}`,
    '--workers', String(workers),
    '--metrics-listen', `127.0.0.1:${opsPort}`,
    ...(defaultLimits ? [] : ['--max-connections', '0', '--max-connections-per-ip', '0', '--connection-rate-per-ip', '0/1s', '--max-bytes-per-second', '0']),
    '--log-level', 'warn',
    '--drain-timeout', '1s',
    ...extra,
  ];
}

/**
 * Starts `node [nodeArgs] bin/xmpp-ws-gateway.js …` and waits for /readyz (every worker listening,
 * upstream reachable). Returns a Target with `.command` (the exact command line) and `.ops` port.
 * `root`: another built checkout's gateway, to compare two versions in one run (`bench/idle-vs-floor.js --base`).
 */
async function startGateway({ root, upstreamPort, workers = 1, nodeArgs = [], nofile, name, defaultLimits, extra }) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const opsPort = await freePort();
    const args = [...nodeArgs, ...gatewayArgs({ root, port, opsPort, upstreamPort, workers, defaultLimits, extra })];
    const child = spawnNode(args, { stdout: 'ignore', nofile });
    const exited = new Promise((r) => child.once('exit', () => r('exited')));
    const deadline = Date.now() + 20_000;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      const r = await Promise.race([httpGet(opsPort, '/readyz'), exited]);
      if (r !== 'exited' && r.status === 200) {
        ready = true;
        break;
      }
      await sleep(100);
    }
    if (ready) {
      const t = new Target(name ?? `gateway-w${workers}`, child, { port, url: `ws://127.0.0.1:${port}/xmpp-websocket` });
      t.opsPort = opsPort;
      t.command = `node ${args.map((a) => (a.startsWith(ROOT) ? path.relative(ROOT, a) : a)).join(' ')}`;
      return t;
    }
    await stopChild(child, 2000);
    if (attempt >= 3) throw new Error(`gateway did not become ready: ${child.stderrTail()}`);
  }
}

/** Sum of the `xmppgw_…` series named `metric` from /metrics, optionally filtered by a label substring. */
async function gatewayMetric(target, metric, labelFilter = '') {
  const r = await httpGet(target.opsPort, '/metrics', 5000);
  let total = 0;
  for (const line of r.body.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const rest = line.slice(metric.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

/** A private Prosody (tools/demo/prosody/) with an ANONYMOUS VirtualHost for load. */
async function startProsodyTarget() {
  const { startProsody, findProsody } = require(path.join(ROOT, 'build', 'tools', 'demo', 'prosody', 'index.js'));
  if (findProsody() === null) return null;
  const prosody = await startProsody({ anonymousHost: 'anon.localhost', logLevel: 'warn' });
  let pid = null;
  for (let i = 0; i < 50 && pid === null; i++) {
    try {
      pid = Number(fs.readFileSync(path.join(prosody.dir, 'prosody.pid'), 'utf8').trim()) || null;
    } catch {
      await sleep(100);
    }
  }
  if (pid === null) {
    await prosody.stop();
    throw new Error('Prosody started but wrote no pidfile');
  }
  const t = new Target('prosody', null, { pid, url: prosody.websocketUrl });
  t.prosody = prosody;
  t.c2sPort = prosody.c2sPort;
  t.stop = () => prosody.stop();
  return t;
}

module.exports = {
  ROOT, CLK_TCK, sleep, cpuSeconds, rssKiB, peakRssKiB, childrenOf, openFds, machineCpu, loadAverage, freePort, httpGet,
  spawnNode, readyLine, stopChild, Target, startFake, startFloor, startGateway, gatewayMetric, startProsodyTarget,
};
