'use strict';
/**
 * BOSH rows of the relay benchmark: the gateway's BOSH transport (XEP-0206, `/http-bind`) next to its
 * WebSocket transport, measured in ONE run against the same fake c2s server (bench/lib/fake-c2s.js),
 * gateway with --workers 1, so the figures compare the two transports and nothing else.
 *
 *   npm run build && node bench/bosh.js           full run (~1-2 min), rewrites its section of bench/RESULTS.md
 *   npm run build && node bench/bosh.js --smoke   a few seconds, small N; exit 1 if anything is lost or fails
 *
 * Measured per transport:
 *   setup      log in N sessions (create/open, SASL PLAIN, restart, bind): gateway CPU per session
 *   idle       hold them (BOSH: one long-poll request held per session, as a browser does): gateway RSS
 *              delta per session (VmRSS) after a settle time
 *   echo       S sessions in a closed loop, one message to their own full JID in flight each (BOSH: the
 *              message rides in a request whose response carries the echo): messages/s and gateway
 *              CPU per message (one element relayed each way)
 * Sanity: every login and echo must succeed, nothing may be lost, and the gateway's
 * xmppgw_stream_errors_total must stay 0 (any failure → exit 1).
 *
 * Options: --sessions N (idle, 1000) --echo-sessions S (50) --seconds T (5) --no-write
 * The load generator runs in this process (one core of a 2-core machine); figures are relative.
 */
const http = require('node:http');
const WebSocket = require('ws');
const sys = require('./lib/system');
const results = require('./lib/results');
const { Harness } = require('./lib/harness');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const num = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const SMOKE = flag('--smoke');
const P = {
  sessions: num('--sessions', SMOKE ? 40 : 1000),
  echoSessions: num('--echo-sessions', SMOKE ? 10 : 50),
  seconds: num('--seconds', SMOKE ? 1.5 : 5),
  settleMs: SMOKE ? 500 : 3000,
};
const WRITE = !SMOKE && !flag('--no-write');
const HARD_DEADLINE_MS = SMOKE ? 90_000 : 10 * 60_000;
const NS = "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'";
const PLAIN = Buffer.from('\0bench\0bench').toString('base64');

const harness = new Harness('bench/bosh.js', HARD_DEADLINE_MS);
const { log, check, started } = harness;

// ---------------------------------------------------------------------------- BOSH client

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function post(port, xml) {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(xml);
    const req = http.request({ host: '127.0.0.1', port, path: '/http-bind', method: 'POST', agent, timeout: 70_000, headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('timeout', () => req.destroy(new Error('BOSH request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

class BoshUser {
  constructor(port) {
    this.port = port;
    this.rid = 1 + Math.floor(Math.random() * 1e9);
    this.sid = '';
    this.jid = '';
    this.polling = false;
  }

  send(payload = '', attrs = '') {
    return post(this.port, `<body rid='${this.rid++}' sid='${this.sid}' ${attrs} ${NS}>${payload}</body>`);
  }

  /** Sends until a response matches `re` (a few tries: the data may come in the next response). */
  async until(payload, re, attrs = '') {
    let text = await this.send(payload, attrs);
    for (let i = 0; !re.test(text); i++) {
      if (i > 5 || /type='terminate'/.test(text)) throw new Error(`BOSH: no ${re} (last ${text.slice(0, 200)})`);
      text = await this.send();
    }
    return text;
  }

  async login() {
    const created = await post(this.port, `<body rid='${this.rid++}' to='localhost' wait='50' hold='1' ver='1.6' xmpp:version='1.0' ${NS}/>`);
    this.sid = /sid='([^']+)'/.exec(created)?.[1] ?? '';
    if (!this.sid) throw new Error(`BOSH: no sid in ${created.slice(0, 200)}`);
    if (!/<mechanism/.test(created)) await this.until('', /<mechanism/);
    await this.until(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${PLAIN}</auth>`, /<success/);
    await this.until('', /<bind/, "to='localhost' xml:lang='en' xmpp:restart='true'");
    const bound = await this.until("<iq type='set' id='b' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>", /<jid>/);
    this.jid = /<jid>([^<]+)<\/jid>/.exec(bound)[1];
  }

  /** One message to itself; resolves when the echo is back. */
  echo(n) {
    return this.until(`<message xmlns='jabber:client' to='${this.jid}' type='chat'><body>e${n}</body></message>`, new RegExp(`>e${n}<`));
  }

  /** Idle like a browser: always one request held. */
  poll() {
    this.polling = true;
    const loop = () => {
      if (!this.polling) return;
      this.send().then(loop, () => undefined);
    };
    loop();
  }

  async logout() {
    this.polling = false;
    await this.send('', "type='terminate'");
  }
}

// ---------------------------------------------------------------------------- WebSocket client

class WsUser {
  constructor(port) {
    this.url = `ws://127.0.0.1:${port}/xmpp-websocket`;
    this.waiters = [];
    this.jid = '';
  }

  next(re) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`WebSocket: no ${re}`)), 30_000);
      this.waiters.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  onMessage(text) {
    const i = this.waiters.findIndex((w) => w.re.test(text));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(text);
  }

  async login() {
    this.ws = new WebSocket(this.url, 'xmpp', { perMessageDeflate: false });
    this.ws.on('message', (d) => this.onMessage(d.toString()));
    await new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    const open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
    let features = this.next(/<mechanism/);
    this.ws.send(open);
    await features;
    const success = this.next(/<success/);
    this.ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${PLAIN}</auth>`);
    await success;
    features = this.next(/<bind/);
    this.ws.send(open);
    await features;
    const bound = this.next(/<jid>/);
    this.ws.send("<iq type='set' id='b' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    this.jid = /<jid>([^<]+)<\/jid>/.exec(await bound)[1];
  }

  echo(n) {
    const back = this.next(new RegExp(`>e${n}<`));
    this.ws.send(`<message xmlns='jabber:client' to='${this.jid}' type='chat'><body>e${n}</body></message>`);
    return back;
  }

  poll() {}

  async logout() {
    const closed = new Promise((r) => this.ws.once('close', r));
    this.ws.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    await closed;
  }
}

// ---------------------------------------------------------------------------- the run

/** Runs `fn(i)` for i in [0, n) with at most `limit` in flight. */
async function pool(n, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

async function measure(name, gw, make) {
  log(`${name}: logging in ${P.sessions} sessions`);
  const users = Array.from({ length: P.sessions }, () => make(gw.port));
  const rss0 = gw.rss();
  const cpu0 = gw.cpu();
  await pool(users.length, 100, async (i) => {
    try {
      await users[i].login();
    } catch (err) {
      check(false, `${name}: login ${i}: ${err.message}`);
    }
  });
  const setupCpuMs = ((gw.cpu() - cpu0) * 1000) / users.length;
  for (const u of users) u.poll();
  await sys.sleep(P.settleMs);
  const idleKiB = (gw.rss() - rss0) / users.length;

  const echoUsers = users.slice(0, P.echoSessions);
  let echoes = 0;
  let stop = false;
  const cpu1 = gw.cpu();
  const t0 = performance.now();
  const loops = echoUsers.map(async (u, k) => {
    u.polling = false;
    for (let n = 0; !stop; n++) {
      try {
        await u.echo(`${k}x${n}`);
        echoes++;
      } catch (err) {
        check(false, `${name}: echo: ${err.message}`);
        return;
      }
    }
  });
  await sys.sleep(P.seconds * 1000);
  stop = true;
  await Promise.all(loops);
  const seconds = (performance.now() - t0) / 1000;
  const echoCpuUs = ((gw.cpu() - cpu1) * 1e6) / Math.max(1, echoes);
  await pool(users.length, 100, async (i) => {
    try {
      await users[i].logout();
    } catch (err) {
      check(false, `${name}: logout ${i}: ${err.message}`);
    }
  });
  const row = { name, sessions: users.length, setupCpuMs, idleKiB, echoSessions: echoUsers.length, perSecond: echoes / seconds, echoCpuUs };
  log(`${name}: ${JSON.stringify(row)}`);
  return row;
}

function table(rows) {
  const f = (x, d = 1) => x.toFixed(d);
  return [
    '| transport | setup CPU / session | RSS / idle session | echo sessions | echoes/s | gateway CPU / echo |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${f(r.setupCpuMs, 2)} ms | ${f(r.idleKiB)} KiB | ${r.echoSessions} | ${f(r.perSecond, 0)} | ${f(r.echoCpuUs, 0)} µs |`),
  ].join('\n');
}

async function main() {
  const fake = await sys.startFake();
  started.push(fake);
  try {
    const gw = await sys.startGateway({ upstreamPort: fake.port, workers: 1, name: 'gateway-w1' });
    started.push(gw);
    const rows = [];
    rows.push(await measure('WebSocket (RFC 7395)', gw, (port) => new WsUser(port)));
    rows.push(await measure('BOSH (XEP-0206)', gw, (port) => new BoshUser(port)));
    check((await sys.gatewayMetric(gw, 'xmppgw_stream_errors_total')) === 0, 'the gateway counted stream errors');
    check((await sys.gatewayMetric(gw, 'xmppgw_bosh_requests_total', 'result="created"')) === P.sessions, 'every BOSH session was created once');
    const text = table(rows);
    console.log(`\n${text}\n`);
    if (WRITE) {
      const where = results.writeSection('bosh.js', 'full', `### BOSH next to WebSocket (${new Date().toISOString().slice(0, 16)}Z, gateway --workers 1, fake c2s)\n\n${text}`);
      log(`wrote the BOSH section of ${where}`);
    }
  } finally {
    agent.destroy();
  }
}

harness.finish(main(), `bosh: every login and echo worked (${SMOKE ? 'smoke' : 'full'})`);
