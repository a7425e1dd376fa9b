'use strict';
/**
 * A fast fake XMPP c2s server (RFC 6120 TCP) for isolating the relay's cost in benchmarks.
 *
 * Per connection: answers every stream header with its own header and features (SASL PLAIN and
 * ANONYMOUS before authentication, bind after), accepts any `<auth/>` with `<success/>`, answers
 * the bind `<iq/>` with a unique full JID (`b<pid>-<n>@<domain>/bench`), answers any other
 * `<iq type='get|set'/>` with an empty result, and after bind echoes every `<message>` whose `to`
 * is the session's own full JID back to it, byte for byte. `</stream:stream>` is answered with
 * `</stream:stream>` and a FIN. Whitespace, XML declarations and other elements are skipped.
 *
 * Byte level and cheap: no DOM, no decoding on the echo path. Element ends are found with
 * Buffer#indexOf (`</message>`) or, for the rare other elements, a tag-depth scan that assumes
 * no `>` inside attribute values and no comments/CDATA — true of everything the load generator
 * (bench/lib/loadgen.js), the gateway and the floor relay send. Not an XMPP server.
 *
 * Flow control like a real server: when a write is refused, reading stops until 'drain'.
 *
 * Module:  const { startFakeC2s } = require('./fake-c2s'); const s = await startFakeC2s({ port: 0 });
 * CLI:     node bench/lib/fake-c2s.js [--host 127.0.0.1] [--port 0] [--workers N] [--domain localhost]
 *                                     [--max-seconds 1800]
 *          prints one JSON line {"event":"listening","port":…,"pid":…} when every worker listens;
 *          stops on SIGTERM/SIGINT, when stdin closes (the parent died), or after --max-seconds.
 *          With --workers > 1 it is a node:cluster of N processes sharing the port (for more
 *          sessions than one process may hold file descriptors).
 */
const net = require('node:net');

const NS_STREAMS = 'http://etherx.jabber.org/streams';
const B = (s) => Buffer.from(s, 'latin1');

const LT = 0x3c; // <
const GT = 0x3e; // >
const SLASH = 0x2f;
const QMARK = 0x3f;
const BANG = 0x21;
const MESSAGE_OPEN = B('<message');
const MESSAGE_CLOSE = B('</message>');
const STREAM_OPEN = B('<stream:stream');
const STREAM_CLOSE_TAG = B('</stream:stream>');
const TO_ATTR = B(' to=');
const PI_END = B('?>');

function isSpace(c) {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function startsWithAt(buf, pos, prefix) {
  if (pos + prefix.length > buf.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[pos + i] !== prefix[i]) return false;
  return true;
}

/** Could `buf[pos..]` still become `prefix` when more bytes arrive? */
function couldStartWith(buf, pos, prefix) {
  const n = Math.min(prefix.length, buf.length - pos);
  for (let i = 0; i < n; i++) if (buf[pos + i] !== prefix[i]) return false;
  return true;
}

/**
 * End (exclusive) of the element starting at `pos` (a `<` of a start tag), or -1 if incomplete.
 * Tag-depth scan; assumes no `>` in attribute values, no comments, CDATA or PIs inside.
 */
function elementEnd(buf, pos) {
  let depth = 0;
  let i = pos;
  for (;;) {
    const gt = buf.indexOf(GT, i + 1);
    if (gt < 0) return -1;
    if (buf[i + 1] === SLASH) depth--;
    else if (buf[gt - 1] !== SLASH) depth++;
    if (depth === 0) return gt + 1;
    const next = buf.indexOf(LT, gt + 1);
    if (next < 0) return -1;
    i = next;
  }
}

/** Value of attribute `name` in the start tag `buf[start..tagEnd)`, or null. */
function attrValue(buf, start, tagEnd, name) {
  const tag = buf.toString('latin1', start, tagEnd);
  const m = new RegExp(`\\s${name}=(?:'([^']*)'|"([^"]*)")`).exec(tag);
  return m === null ? null : (m[1] ?? m[2]);
}

const escapeAttr = (s) => s.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');

class FakeConnection {
  constructor(socket, server) {
    this.socket = socket;
    this.server = server;
    this.pending = null;
    /** 'pre-auth' → 'authed' (waiting for the restart) → 'restarted' (waiting for bind) → 'bound'. */
    this.stage = 'pre-auth';
    this.jid = null;
    this.jidBytes = null;
    this.ended = false;
    this.streams = 0;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('drain', () => socket.resume());
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.end());
    socket.on('close', () => server.connections.delete(this));
  }

  write(data) {
    if (!this.socket.write(data)) this.socket.pause();
  }

  onData(chunk) {
    if (this.ended) return;
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let pos = 0;
    // Echoes are collected as [start, end) ranges of `buf` and written once per chunk; adjacent
    // ranges merge, so a chunk of back-to-back messages to self goes back as one write.
    let echoStart = -1;
    let echoEnd = -1;
    const flushEcho = () => {
      if (echoStart >= 0) {
        this.write(buf.subarray(echoStart, echoEnd));
        echoStart = echoEnd = -1;
      }
    };
    const len = buf.length;
    while (pos < len) {
      const c = buf[pos];
      if (c !== LT) {
        if (isSpace(c)) {
          pos++;
          continue;
        }
        // Stray text at stream level: skip to the next tag.
        const next = buf.indexOf(LT, pos);
        if (next < 0) {
          pos = len;
          break;
        }
        pos = next;
        continue;
      }
      if (pos + 1 >= len) break;
      const c1 = buf[pos + 1];
      if (c1 === 0x6d /* m */ && startsWithAt(buf, pos, MESSAGE_OPEN)) {
        const tagEnd = buf.indexOf(GT, pos + MESSAGE_OPEN.length);
        if (tagEnd < 0) break;
        let end;
        if (buf[tagEnd - 1] === SLASH) end = tagEnd + 1;
        else {
          const close = buf.indexOf(MESSAGE_CLOSE, tagEnd + 1);
          if (close < 0) break;
          end = close + MESSAGE_CLOSE.length;
        }
        this.server.stats.messagesIn++;
        if (this.jidBytes !== null && this.addressedToSelf(buf, pos, tagEnd)) {
          this.server.stats.echoed++;
          if (echoEnd === pos) echoEnd = end;
          else {
            flushEcho();
            echoStart = pos;
            echoEnd = end;
          }
        }
        pos = end;
        continue;
      }
      if (c1 === QMARK || c1 === BANG) {
        const end = buf.indexOf(c1 === QMARK ? PI_END : GT, pos + 2);
        if (end < 0) break;
        pos = end + (c1 === QMARK ? 2 : 1);
        continue;
      }
      if (c1 === SLASH) {
        // Only </stream:stream> can close at stream level.
        if (!couldStartWith(buf, pos, STREAM_CLOSE_TAG)) {
          this.fail('not-well-formed');
          return;
        }
        if (pos + STREAM_CLOSE_TAG.length > len) break;
        flushEcho();
        this.ended = true;
        this.socket.end('</stream:stream>');
        return;
      }
      if (couldStartWith(buf, pos, STREAM_OPEN) && (pos + STREAM_OPEN.length > len || isSpace(buf[pos + STREAM_OPEN.length]) || buf[pos + STREAM_OPEN.length] === GT)) {
        const gt = buf.indexOf(GT, pos);
        if (gt < 0 || pos + STREAM_OPEN.length > len) break;
        flushEcho();
        this.onStreamHeader();
        pos = gt + 1;
        continue;
      }
      const end = elementEnd(buf, pos);
      if (end < 0) break;
      flushEcho();
      this.onElement(buf, pos, end);
      if (this.ended) return;
      pos = end;
    }
    flushEcho();
    if (pos < len) {
      if (len - pos > 1024 * 1024) {
        this.fail('policy-violation');
        return;
      }
      this.pending = buf.subarray(pos);
    }
  }

  addressedToSelf(buf, start, tagEnd) {
    const at = buf.indexOf(TO_ATTR, start);
    if (at < 0 || at > tagEnd) return false;
    const q = at + TO_ATTR.length;
    const quote = buf[q];
    const jid = this.jidBytes;
    const from = q + 1;
    return buf[from + jid.length] === quote && buf.compare(jid, 0, jid.length, from, from + jid.length) === 0;
  }

  onStreamHeader() {
    this.streams++;
    const server = this.server;
    const id = `${server.idPrefix}${++server.streamIds}`;
    let features;
    if (this.stage === 'pre-auth') {
      features =
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>" +
        '<mechanism>ANONYMOUS</mechanism></mechanisms></stream:features>';
    } else {
      if (this.stage === 'authed') this.stage = 'restarted';
      features = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
    }
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${NS_STREAMS}' id='${id}' ` +
        `from='${server.domain}' version='1.0' xml:lang='en'>${features}`,
    );
  }

  onElement(buf, start, end) {
    const tagEnd = buf.indexOf(GT, start);
    const nameEnd = (() => {
      let i = start + 1;
      while (i < tagEnd && !isSpace(buf[i]) && buf[i] !== SLASH) i++;
      return i;
    })();
    const name = buf.toString('latin1', start + 1, nameEnd);
    switch (name) {
      case 'auth':
        if (this.stage !== 'pre-auth') return this.fail('not-authorized');
        this.stage = 'authed';
        this.write("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        return;
      case 'iq': {
        const id = attrValue(buf, start, tagEnd, 'id') ?? '';
        const type = attrValue(buf, start, tagEnd, 'type');
        if (type !== 'get' && type !== 'set') return;
        const body = buf.toString('latin1', start, end);
        if (body.includes('urn:ietf:params:xml:ns:xmpp-bind')) {
          if (this.stage !== 'restarted' || this.jid !== null) {
            this.write(`<iq type='error' id='${escapeAttr(id)}'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
            return;
          }
          const server = this.server;
          this.jid = `b${server.idPrefix}-${++server.jids}@${server.domain}/bench`;
          this.jidBytes = B(this.jid);
          this.stage = 'bound';
          server.stats.bound++;
          this.write(`<iq type='result' id='${escapeAttr(id)}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>${this.jid}</jid></bind></iq>`);
          return;
        }
        this.write(`<iq type='result' id='${escapeAttr(id)}'/>`);
        return;
      }
      default:
        // presence, acks, anything else: swallowed.
        return;
    }
  }

  fail(condition) {
    this.ended = true;
    this.server.stats.errors++;
    this.socket.end(`<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
  }
}

/**
 * Starts the fake server in this process. Resolves with { port, stats, close() }.
 * @param {{ host?: string, port?: number, domain?: string }} [opts]
 */
function startFakeC2s(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const state = {
    domain: opts.domain ?? 'localhost',
    idPrefix: process.pid.toString(36),
    streamIds: 0,
    jids: 0,
    connections: new Set(),
    stats: { accepted: 0, bound: 0, messagesIn: 0, echoed: 0, errors: 0 },
  };
  const server = net.createServer({ noDelay: true }, (socket) => {
    state.stats.accepted++;
    state.connections.add(new FakeConnection(socket, state));
  });
  server.maxConnections = 1 << 30;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: opts.port ?? 0, backlog: 4096 }, () => {
      server.removeListener('error', reject);
      resolve({
        port: server.address().port,
        stats: state.stats,
        get connections() {
          return state.connections.size;
        },
        close() {
          for (const c of state.connections) c.socket.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}

module.exports = { startFakeC2s, elementEnd };

// ------------------------------------------------------------------------------------------- CLI

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: 0, workers: 1, domain: 'localhost', maxSeconds: 1800 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in out)) throw new Error(`fake-c2s: unknown option ${argv[i]}`);
    out[key] = typeof out[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return out;
}

function runCli() {
  const cluster = require('node:cluster');
  const args = parseArgs(process.argv.slice(2));
  const stop = () => process.exit(0);
  setTimeout(() => process.exit(3), args.maxSeconds * 1000).unref();
  if (cluster.isPrimary && args.workers > 1) {
    let listening = 0;
    let port = null;
    for (let i = 0; i < args.workers; i++) {
      const w = cluster.fork();
      w.on('message', (msg) => {
        if (msg && msg.event === 'listening') {
          port = msg.port;
          if (++listening === args.workers) {
            const pids = Object.values(cluster.workers).map((x) => x.process.pid);
            process.stdout.write(`${JSON.stringify({ event: 'listening', port, pid: process.pid, workers: pids })}\n`);
          }
        }
      });
    }
    cluster.on('exit', (w, code) => {
      if (code !== 0) process.stderr.write(`fake-c2s: worker ${w.process.pid} exited with ${code}\n`);
    });
    const stopAll = () => {
      for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
      setTimeout(stop, 200).unref();
    };
    process.on('SIGTERM', stopAll);
    process.on('SIGINT', stopAll);
    process.stdin.on('end', stopAll).on('error', stopAll).resume();
    return;
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  startFakeC2s(args).then(
    (s) => {
      if (cluster.isWorker) {
        process.send({ event: 'listening', port: s.port });
        process.on('disconnect', stop);
      } else {
        process.stdout.write(`${JSON.stringify({ event: 'listening', port: s.port, pid: process.pid, workers: [] })}\n`);
        process.stdin.on('end', stop).on('error', stop).resume();
      }
    },
    (err) => {
      process.stderr.write(`fake-c2s: ${err.message}\n`);
      process.exit(1);
    },
  );
}

if (require.main === module) runCli();
