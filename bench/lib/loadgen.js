'use strict';
/**
 * Load generator: RFC 7395 sessions over `ws` clients, in child processes driven over IPC.
 *
 * Each session logs in (`<open/>`, SASL PLAIN or ANONYMOUS, `<open/>` again after success, bind
 * with a server-chosen resource) and then serves one of:
 * - echo, closed loop: every session keeps `window` messages to its own full JID in flight and sends
 *   the next one when one comes back (saturation throughput);
 * - echo, open loop: the child sends at a fixed total rate, round-robin over its sessions, whatever
 *   comes back, and records each round trip (send → the whole message back), in order per session;
 * - idle: the session is just held (memory per session);
 * - storm (after `stormArm`): when the server ends a session, the client reconnects and logs in
 *   again, to the `<close see-other-uri>` it was given (RFC 7395 §3.6.1) or else a fallback URL,
 *   after a jittered exponential backoff, retrying refused or failed attempts with the next delay
 *   (bench/storm.js: a gateway drains, every client comes back through a second one).
 *
 * Incoming data is read as a byte stream, never parsed: login steps look for markers
 * (`</stream:features>`, `<success`, `</jid>`), echo counts `</message>` occurrences across message
 * boundaries. So the same code works against the gateway (one element per message) and against the
 * floor relay (bench/lib/floor-relay.js: raw TCP chunks, several or partial elements per message).
 * Messages are ASCII, so a chunk boundary can never split a UTF-8 character.
 *
 * Client sockets are spread over source addresses 127.0.0.2 … 127.0.0.(1+srcCount) (`localAddress`),
 * so tens of thousands of sessions do not run out of ephemeral ports on one address pair.
 *
 * Everything is bounded: each login has a deadline, each command a deadline, each child a maximum
 * lifetime, and a child exits when its parent goes away (IPC disconnect).
 *
 *   const { LoadgenPool } = require('./lib/loadgen');
 *   const pool = await LoadgenPool.start(2);
 *   await pool.login({ tag: 'a', url, count: 100, domain: 'localhost', sasl: 'PLAIN' });
 *   await pool.all('echoStart', { tag: 'a', window: 2 }); … await pool.all('counts', { tag: 'a' });
 *   await pool.all('echoStop', { tag: 'a' }); await pool.all('close', { tag: 'a' }); pool.stop();
 */
const { fork } = require('node:child_process');
const { performance } = require('node:perf_hooks');

const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const MESSAGE_END = Buffer.from('</message>', 'latin1');
const END_LEN = MESSAGE_END.length;
/** ASCII only (see above); 120 bytes of body, about 230 bytes per message on the wire. */
const BODY = 'The quick brown fox jumps over the lazy dog; benchmark payload 0123456789 - keep it ASCII so TCP chunks split nothing.';
const LOGIN_TIMEOUT_MS = 30_000;
const LT_BYTE = 0x3c;
const C_BYTE = 0x63;
const CHILD_MAX_LIFETIME_MS = 40 * 60_000;

// ============================================================================ child process side

const zeroMask = (mask) => mask.fill(0);

class Client {
  constructor(group, index, opts) {
    this.group = group;
    this.index = index;
    /** Message ids stay unique across reconnects. */
    this.seq = 0;
    this.onLogin = null;
    this.timer = null;
    /** Storm mode: the see-other-uri of the server's last <close/>, when it sent one. */
    this.redirect = null;
    this.dropAt = 0;
    this.attempt = 0;
    this.begin(opts);
  }

  /** Back to the start of a login, for a reconnect to `url` (storm mode). */
  reset(url) {
    this.begin({ ...this.opts, url });
  }

  /** The state of one login attempt, from the WebSocket handshake on. */
  begin(opts) {
    this.opts = opts;
    this.ws = null;
    /** 'connecting' | 'login' | 'ready' | 'closing' | 'closed' | 'failed' */
    this.state = 'connecting';
    this.step = 0;
    this.text = '';
    this.jid = null;
    this.prefix = null;
    this.sent = 0;
    this.received = 0;
    this.tail = '';
    /** Send times of messages in flight, oldest first (open loop only). */
    this.times = null;
    this.timesHead = 0;
  }

  login() {
    const WebSocket = require('ws');
    return new Promise((resolve) => {
      this.onLogin = resolve;
      this.timer = setTimeout(() => this.fail('login timed out'), this.opts.loginTimeoutMs ?? LOGIN_TIMEOUT_MS);
      const ws = new WebSocket(this.opts.url, 'xmpp', {
        perMessageDeflate: false,
        localAddress: this.opts.localAddress,
        ...(this.opts.localPort === undefined ? {} : { localPort: this.opts.localPort }),
        handshakeTimeout: LOGIN_TIMEOUT_MS,
        // The load generator's own cost, kept low so more of the 2 cores go to the relay: an
        // all-zero masking key (valid on the wire; ws then skips the XOR) and no UTF-8 check of
        // what comes back (the relay under test checks what it receives from us).
        generateMask: zeroMask,
        skipUTF8Validation: true,
      });
      this.ws = ws;
      // After a reconnect (storm mode) a late event of an earlier socket must not touch this one.
      ws.on('open', () => {
        if (this.ws !== ws) return;
        this.state = 'login';
        this.sendOpen();
      });
      ws.on('message', (data) => this.ws === ws && this.onData(data));
      ws.on('error', (err) => this.ws === ws && this.fail(`ws error: ${err.message}`));
      ws.on('close', (code) => {
        if (this.ws !== ws) return;
        const was = this.state;
        this.state = was === 'failed' ? 'failed' : 'closed';
        if (was === 'ready' && this.group.storm !== null) this.group.storm.onDrop(this);
        else if (was === 'ready') this.group.error(`session closed unexpectedly (code ${code})`);
        if (was === 'connecting' || was === 'login') this.fail(`closed during login (code ${code})${this.text ? `: ${this.text.slice(0, 200)}` : ''}`);
        this.group.onClosed(this);
      });
    });
  }

  sendOpen() {
    this.ws.send(`<open xmlns='${NS_FRAMING}' to='${this.opts.domain}' version='1.0'/>`);
  }

  fail(reason) {
    if (this.state === 'failed' || this.state === 'closed') return;
    const wasLogin = this.onLogin !== null;
    this.state = 'failed';
    clearTimeout(this.timer);
    if (this.ws !== null) this.ws.terminate();
    if (wasLogin) {
      const done = this.onLogin;
      this.onLogin = null;
      done({ ok: false, reason });
    } else {
      this.group.error(reason);
    }
  }

  onData(data) {
    if (this.state === 'ready' || this.state === 'closing') {
      // RFC 7395 §3.6.1: <close see-other-uri='…'/> says where to reconnect (storm mode only).
      if (this.group.storm !== null && data[0] === LT_BYTE && data[1] === C_BYTE && data.length < 1024) {
        const m = /^<close [^>]*see-other-uri=['"]([^'"]+)['"]/.exec(data.toString('utf8'));
        if (m !== null) this.redirect = m[1];
      }
      this.countEnds(data);
      return;
    }
    if (this.state !== 'login') return;
    this.text += data.toString('utf8');
    const t = this.text;
    if (t.includes('<stream:error') || t.includes('<failure')) {
      this.fail(`server refused: ${t.slice(t.search(/<stream:error|<failure/), 300)}`);
      return;
    }
    switch (this.step) {
      case 0: {
        const end = t.indexOf('</stream:features>');
        if (end < 0) return;
        const mech = this.opts.sasl;
        if (!t.includes(`<mechanism>${mech}</mechanism>`)) return this.fail(`server does not offer SASL ${mech}: ${t.slice(0, 300)}`);
        this.text = t.slice(end);
        this.step = 1;
        const payload = mech === 'PLAIN' ? Buffer.from(`\0${this.opts.user}\0${this.opts.password}`).toString('base64') : '';
        this.ws.send(payload === '' ? `<auth xmlns='${NS_SASL}' mechanism='${mech}'/>` : `<auth xmlns='${NS_SASL}' mechanism='${mech}'>${payload}</auth>`);
        return;
      }
      case 1: {
        const at = t.indexOf('<success');
        if (at < 0 || t.indexOf('>', at) < 0) return;
        this.text = '';
        this.step = 2;
        this.sendOpen();
        return;
      }
      case 2: {
        const end = t.indexOf('</stream:features>');
        if (end < 0) return;
        if (!t.includes(NS_BIND)) return this.fail(`no bind feature after restart: ${t.slice(0, 300)}`);
        this.text = t.slice(end);
        this.step = 3;
        this.ws.send(`<iq xmlns='jabber:client' type='set' id='bind-1'><bind xmlns='${NS_BIND}'/></iq>`);
        return;
      }
      case 3: {
        const end = t.indexOf('</jid>');
        if (end < 0) return;
        const start = t.lastIndexOf('<jid>', end);
        this.jid = t.slice(start + 5, end);
        this.prefix = `<message xmlns='jabber:client' to='${this.jid}' type='chat' id='`;
        this.text = '';
        this.state = 'ready';
        clearTimeout(this.timer);
        const done = this.onLogin;
        this.onLogin = null;
        done({ ok: true });
        return;
      }
    }
  }

  send() {
    this.sent++;
    this.ws.send(`${this.prefix}${(++this.seq).toString(36)}'><body>${BODY}</body></message>`);
    if (this.times !== null) this.times.push(performance.now());
  }

  /** Counts `</message>` in the byte stream, including one split across two WebSocket messages. */
  countEnds(buf) {
    let n = 0;
    const tail = this.tail;
    if (tail.length > 0) {
      const joined = tail + buf.toString('latin1', 0, Math.min(END_LEN - 1, buf.length));
      for (let at = joined.indexOf('</message>'); at >= 0 && at < tail.length; at = joined.indexOf('</message>', at + 1)) n++;
    }
    for (let at = buf.indexOf(MESSAGE_END); at >= 0; at = buf.indexOf(MESSAGE_END, at + END_LEN)) n++;
    if (buf.length >= END_LEN - 1) this.tail = buf.toString('latin1', buf.length - (END_LEN - 1));
    else this.tail = (tail + buf.toString('latin1')).slice(-(END_LEN - 1));
    if (n > 0) this.group.onEchoes(this, n);
  }
}

/**
 * Storm mode for one group: reconnects every session the server ends, with the backoff of browser
 * XMPP libraries. Stanza (node_modules/stanza/Client.js) waits 1000 × min(2^k + U(0,1), 32) ms before
 * its k-th consecutive attempt: 2–3 s, 4–5 s, 8–9 s, … capped at 32 s; @xmpp/reconnect waits a fixed
 * 1 s without jitter; Converse.js debounces its reconnect by 3 s; Strophe.js leaves it to the
 * application. Stanza's is the jittered exponential one, so it is the default here (`baseMs` scales it).
 */
class Storm {
  constructor(group, { fallbackUrl, baseMs = 1000, capFactor = 32, deadlineMs = 300_000 }) {
    this.group = group;
    this.fallbackUrl = fallbackUrl;
    this.baseMs = baseMs;
    this.capFactor = capFactor;
    this.deadline = Date.now() + deadlineMs;
    this.dropped = 0;
    this.redirected = 0;
    this.back = 0;
    this.attempts = 0;
    this.refused = {};
    this.failures = 0;
    this.errorSamples = [];
    this.firstDropAt = 0;
    this.lastBackAt = 0;
    /** Per session: drop → logged in again, ms. */
    this.reconnectMs = [];
    this.timers = new Set();
    this.stopped = false;
  }

  delay(k) {
    return this.baseMs * Math.min(2 ** k + Math.random(), this.capFactor);
  }

  onDrop(client) {
    this.dropped++;
    client.dropAt = Date.now();
    if (this.firstDropAt === 0) this.firstDropAt = client.dropAt;
    client.attempt = 0;
    if (client.redirect !== null) this.redirected++;
    const url = client.redirect ?? this.fallbackUrl;
    client.redirect = null;
    this.schedule(client, url);
  }

  schedule(client, url) {
    if (this.stopped || Date.now() > this.deadline) return;
    client.attempt++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.tryOnce(client, url);
    }, this.delay(client.attempt));
    this.timers.add(timer);
  }

  async tryOnce(client, url) {
    if (this.stopped) return;
    this.attempts++;
    client.reset(url);
    const res = await client.login();
    if (res.ok) {
      this.back++;
      this.lastBackAt = Date.now();
      this.reconnectMs.push(this.lastBackAt - client.dropAt);
      return;
    }
    const status = /Unexpected server response: (\d+)/.exec(res.reason);
    if (status !== null) this.refused[status[1]] = (this.refused[status[1]] ?? 0) + 1;
    else {
      this.failures++;
      if (this.errorSamples.length < 5) this.errorSamples.push(res.reason);
    }
    this.schedule(client, url);
  }

  status({ withSamples = false } = {}) {
    const ready = this.group.clients.filter((c) => c.state === 'ready').length;
    return {
      ready, dropped: this.dropped, redirected: this.redirected, back: this.back, attempts: this.attempts, refused: this.refused,
      failures: this.failures, errorSamples: this.errorSamples, firstDropAt: this.firstDropAt, lastBackAt: this.lastBackAt,
      reconnectMs: withSamples ? this.reconnectMs : undefined,
    };
  }

  stop() {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

class Group {
  constructor(tag) {
    this.tag = tag;
    /** Storm mode (see Storm), or null. */
    this.storm = null;
    this.clients = [];
    this.ready = [];
    this.errors = 0;
    this.errorSamples = [];
    this.received = 0;
    this.sent = 0;
    this.mode = 'idle';
    this.window = 0;
    this.samples = null;
    this.closeWaiters = new Set();
  }

  error(reason) {
    this.errors++;
    if (this.errorSamples.length < 5) this.errorSamples.push(reason);
  }

  onEchoes(client, n) {
    client.received += n;
    this.received += n;
    if (client.times !== null) {
      const now = performance.now();
      for (let i = 0; i < n && client.timesHead < client.times.length; i++) {
        const rtt = now - client.times[client.timesHead++];
        if (this.samples !== null) this.samples.push(rtt);
      }
      if (client.timesHead === client.times.length) {
        client.times.length = 0;
        client.timesHead = 0;
      }
    }
    if (this.mode === 'closed-loop' && client.state === 'ready') {
      for (let i = 0; i < n; i++) client.send();
      this.sent += n;
    }
  }

  onClosed(client) {
    for (const w of this.closeWaiters) w();
  }

  inFlight() {
    let n = 0;
    for (const c of this.ready) if (c.state === 'ready') n += c.sent - c.received;
    return n;
  }
}

const groups = new Map();
function group(tag) {
  let g = groups.get(tag);
  if (g === undefined) {
    g = new Group(tag);
    groups.set(tag, g);
  }
  return g;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, ms, step = 20) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() >= deadline) return false;
    await sleep(step);
  }
  return true;
}

const handlers = {
  /** Logs in `count` sessions with at most `concurrency` logins in flight. */
  async login({ tag, url, count, concurrency = 100, domain = 'localhost', sasl = 'PLAIN', user = 'bench', password = 'bench',
    srcBase = 2, srcCount = 1, offset = 0, portBase = 0, deadlineMs = 120_000 }) {
    const g = group(tag);
    const started = performance.now();
    const deadline = Date.now() + deadlineMs;
    let next = 0;
    let ok = 0;
    let failed = 0;
    const worker = async () => {
      while (next < count && Date.now() < deadline) {
        const i = next++;
        const n = offset + i;
        const localAddress = `127.0.${Math.floor((srcBase + (n % srcCount)) / 256)}.${(srcBase + (n % srcCount)) % 256}`;
        // portBase > 0: an explicit source port too, below the kernel's ephemeral range, so our
        // bound ports do not take port numbers the relay's own upstream connects need (bench/idle.js).
        const localPort = portBase > 0 ? portBase + Math.floor(n / srcCount) : undefined;
        const client = new Client(g, g.clients.length, { url, domain, sasl, user, password, localAddress, localPort });
        g.clients.push(client);
        const res = await client.login();
        if (res.ok) {
          ok++;
          g.ready.push(client);
        } else {
          failed++;
          g.error(`login: ${res.reason}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return { ok, failed: failed + (count - ok - failed), ms: performance.now() - started, errors: g.errors, errorSamples: g.errorSamples };
  },

  async echoStart({ tag, window = 1 }) {
    const g = group(tag);
    g.mode = 'closed-loop';
    g.window = window;
    for (const c of g.ready) {
      if (c.state !== 'ready') continue;
      for (let i = 0; i < window; i++) c.send();
      g.sent += window;
    }
    return { sessions: g.ready.length };
  },

  async counts({ tag }) {
    const g = group(tag);
    return { received: g.received, sent: g.sent, errors: g.errors, t: performance.now() };
  },

  /** Stops sending and waits (bounded) for what is in flight. */
  async echoStop({ tag, waitMs = 10_000 }) {
    const g = group(tag);
    g.mode = 'idle';
    await waitFor(() => g.inFlight() === 0, waitMs);
    const lost = g.inFlight();
    return { received: g.received, sent: g.sent, lost, errors: g.errors, errorSamples: g.errorSamples };
  },

  /** Open loop at `rate` messages/s for warmupMs + ms; returns the round trips of the last `ms`. */
  async rate({ tag, rate, ms, warmupMs = 1000, waitMs = 5000 }) {
    const g = group(tag);
    const clients = g.ready.filter((c) => c.state === 'ready');
    if (clients.length === 0) return { samples: [], sent: 0, lost: 0 };
    for (const c of clients) {
      c.times = [];
      c.timesHead = 0;
    }
    g.mode = 'open-loop';
    const t0 = performance.now();
    const total = Math.round((rate * (warmupMs + ms)) / 1000);
    let sent = 0;
    let rr = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const now = performance.now();
        if (g.samples === null && now - t0 >= warmupMs) g.samples = [];
        const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000));
        while (sent < due) {
          const c = clients[rr++ % clients.length];
          if (c.state === 'ready') c.send();
          sent++;
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(tick, 1);
    });
    await waitFor(() => clients.every((c) => c.state !== 'ready' || c.times.length === 0), waitMs, 5);
    const samples = g.samples ?? [];
    g.samples = null;
    let lost = 0;
    for (const c of clients) {
      lost += c.times.length - c.timesHead;
      c.times = null;
      c.timesHead = 0;
      c.sent = c.received; // what was lost is reported, not carried into the next phase
    }
    g.mode = 'idle';
    return { samples, sent, lost, errors: g.errors, errorSamples: g.errorSamples };
  },

  /** `<close/>` on every session of the group, then (bounded) wait for the server to close. */
  async close({ tag, waitMs = 15_000 }) {
    const g = groups.get(tag);
    if (g === undefined) return { closed: 0, terminated: 0 };
    g.mode = 'idle';
    let closing = 0;
    for (const c of g.clients) {
      if (c.state === 'ready') {
        c.state = 'closing';
        closing++;
        c.ws.send(`<close xmlns='${NS_FRAMING}'/>`);
      } else if (c.state === 'connecting' || c.state === 'login') {
        c.fail('closed by the benchmark');
      }
    }
    const open = () => g.clients.filter((c) => c.state === 'closing').length;
    await waitFor(() => open() === 0, waitMs, 50);
    let terminated = 0;
    for (const c of g.clients) {
      if (c.state === 'closing') {
        terminated++;
        c.state = 'closed';
        c.ws.terminate();
      }
    }
    groups.delete(tag);
    return { closed: closing - terminated, terminated, errors: g.errors, errorSamples: g.errorSamples };
  },

  /** Storm mode on for the group's sessions: see Storm. */
  async stormArm({ tag, fallbackUrl, baseMs, capFactor, deadlineMs }) {
    const g = group(tag);
    g.storm = new Storm(g, { fallbackUrl, baseMs, capFactor, deadlineMs });
    return { sessions: g.ready.length };
  },

  async stormStatus({ tag, withSamples = false }) {
    const g = group(tag);
    return g.storm === null ? { fatal: `group ${tag} is not in storm mode` } : g.storm.status({ withSamples });
  },

  async stormStop({ tag }) {
    const g = group(tag);
    if (g.storm !== null) g.storm.stop();
    return {};
  },

  async exit() {
    setTimeout(() => process.exit(0), 10);
    return {};
  },
};

function runChild() {
  setTimeout(() => process.exit(3), CHILD_MAX_LIFETIME_MS).unref();
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg) => {
    const handler = handlers[msg.cmd];
    const reply = (res) => {
      if (process.connected) process.send({ id: msg.id, ...res });
    };
    if (handler === undefined) return reply({ fatal: `unknown command ${msg.cmd}` });
    handler(msg.args ?? {}).then(reply, (err) => reply({ fatal: err && err.stack ? err.stack : String(err) }));
  });
  process.send({ ready: true });
}

// ============================================================================ parent side

class LoadgenPool {
  /** Forks `n` load generator processes. */
  static async start(n, { execArgv = [] } = {}) {
    const children = [];
    for (let i = 0; i < n; i++) {
      const child = fork(__filename, ['--child'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const pending = new Map();
      child.on('message', (msg) => {
        if (msg && msg.ready) child.emit('loadgen-ready');
        const p = msg && pending.get(msg.id);
        if (p) {
          pending.delete(msg.id);
          if (msg.fatal) p.reject(new Error(`loadgen child ${child.pid}: ${msg.fatal}`));
          else p.resolve(msg);
        }
      });
      child.on('exit', (code, signal) => {
        for (const p of pending.values()) p.reject(new Error(`loadgen child ${child.pid} exited (${signal ?? code})`));
        pending.clear();
      });
      await new Promise((resolve, reject) => {
        child.once('loadgen-ready', resolve);
        child.once('exit', () => reject(new Error('loadgen child exited at start')));
      });
      children.push({ child, pending, nextId: 0 });
    }
    return new LoadgenPool(children);
  }

  constructor(children) {
    this.children = children;
  }

  get pids() {
    return this.children.map((c) => c.child.pid);
  }

  call(index, cmd, args = {}, timeoutMs = 600_000) {
    const c = this.children[index];
    const id = ++c.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        c.pending.delete(id);
        reject(new Error(`loadgen ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      c.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      c.child.send({ id, cmd, args });
    });
  }

  /** The same command on every child; `argsFor(i)` may vary the arguments. */
  all(cmd, args = {}, argsFor = null, timeoutMs) {
    return Promise.all(this.children.map((_, i) => this.call(i, cmd, argsFor ? argsFor(i, args) : args, timeoutMs)));
  }

  /** Logs in `count` sessions split over the children; sums the results. */
  async login(args, timeoutMs) {
    const n = this.children.length;
    const per = (i) => Math.floor(args.count / n) + (i < args.count % n ? 1 : 0);
    const offsets = [];
    for (let i = 0, o = 0; i < n; o += per(i), i++) offsets.push(o);
    const results = await this.all('login', args, (i) => ({ ...args, count: per(i), offset: (args.offset ?? 0) + offsets[i], concurrency: Math.max(1, Math.ceil((args.concurrency ?? 100) / n)) }), timeoutMs);
    return {
      ok: results.reduce((s, r) => s + r.ok, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
      ms: Math.max(...results.map((r) => r.ms)),
      errorSamples: results.flatMap((r) => r.errorSamples),
    };
  }

  async counts(tag) {
    const results = await this.all('counts', { tag });
    return { received: results.reduce((s, r) => s + r.received, 0), errors: results.reduce((s, r) => s + r.errors, 0) };
  }

  stop() {
    for (const { child } of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}

module.exports = { LoadgenPool, BODY };

if (require.main === module && process.argv.includes('--child')) runChild();
