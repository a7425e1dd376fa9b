'use strict';
/**
 * The floor: the least a WebSocket-to-TCP relay can do, to measure the gateway against.
 *
 * A `ws` server (subprotocol "xmpp" only, no permessage-deflate, the same ws version and maxPayload
 * as the gateway) that opens one TCP connection per WebSocket (noDelay, as the gateway does) and
 * relays bytes unparsed both ways: a client message that starts with `<open` becomes a stream
 * header, one that starts with `<close` becomes `</stream:stream>`, any other is written to TCP as
 * it is; every TCP chunk from the server is sent to the client as one text message, as it arrives.
 * This is NOT correct RFC 7395 (messages hold several or partial elements, the XML declaration and
 * stream header go through), so the load generator reads floor sessions as a byte stream.
 *
 * Same process model as the gateway with --workers 1 (one Node process) and the same backpressure
 * idea: TCP reads pause while `ws.bufferedAmount` is above a high-water mark (1 MiB, resume below
 * half), WebSocket reads pause while the TCP socket refuses writes (until 'drain').
 *
 * CLI: node bench/lib/floor-relay.js --upstream 127.0.0.1:5222 [--listen 127.0.0.1:0] [--max-seconds 1800]
 *      prints one JSON line {"event":"listening","port":…,"pid":…}; stops on SIGTERM/SIGINT, when
 *      stdin closes (the parent died), or after --max-seconds.
 */
const http = require('node:http');
const net = require('node:net');
const { WebSocketServer } = require('ws');

const HIGH_WATER = 1024 * 1024;
const MAX_STANZA = 262144;
const TEXT = { binary: false };
const LT = 0x3c;
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

function firstTag(data) {
  let i = 0;
  while (i < data.length && SPACE.has(data[i])) i++;
  if (data[i] !== LT) return null;
  if (data[i + 1] === 0x6f /* o */ && data.toString('latin1', i, i + 5) === '<open') return 'open';
  if (data[i + 1] === 0x63 /* c */ && data.toString('latin1', i, i + 6) === '<close') return 'close';
  return null;
}

function streamHeader(openMessage) {
  const text = openMessage.toString('utf8');
  const to = /\sto=(?:'([^']*)'|"([^"]*)")/.exec(text);
  const toAttr = to === null ? '' : ` to='${to[1] ?? to[2]}'`;
  return `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'${toAttr} version='1.0'>`;
}

/** The floor's server→client side: each TCP chunk as one text message, unparsed. */
const rawServerSide = (ws) => ({ data: (chunk) => ws.send(chunk, TEXT), clientOpened: () => undefined });

/**
 * `serverSide(ws, tcp)` returns `{ data(chunk), clientOpened() }`: what is done with each TCP
 * chunk from the server, and what the client's `<open/>` means for it (default: the floor's raw
 * relay; ./protocol-floor-relay.js adds RFC 7395's element split).
 */
function startFloorRelay({ listenHost = '127.0.0.1', listenPort = 0, upstreamHost = '127.0.0.1', upstreamPort, serverSide = rawServerSide }) {
  const stats = { sessions: 0, open: 0 };
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('floor relay\n');
  });
  const wss = new WebSocketServer({
    server,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: 2 * MAX_STANZA,
    handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
  });
  wss.on('connection', (ws, req) => {
    stats.sessions++;
    stats.open++;
    const wsSocket = req.socket;
    // net.Socket queues writes made while connecting, so no queue of our own is needed.
    const tcp = net.connect({ host: upstreamHost, port: upstreamPort, noDelay: true });
    let tcpPaused = false;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      stats.open--;
    };

    const toClient = serverSide(ws, tcp);
    ws.on('message', (data) => {
      const tag = firstTag(data);
      let ok;
      if (tag === 'open') {
        toClient.clientOpened();
        ok = tcp.write(streamHeader(data));
      } else if (tag === 'close') ok = tcp.write('</stream:stream>');
      else ok = tcp.write(data);
      if (!ok) ws.pause();
    });
    tcp.on('drain', () => ws.resume());

    tcp.on('data', (chunk) => {
      toClient.data(chunk);
      if (!tcpPaused && ws.bufferedAmount > HIGH_WATER) {
        tcpPaused = true;
        tcp.pause();
      }
    });
    wsSocket.on('drain', () => {
      if (tcpPaused && ws.bufferedAmount <= HIGH_WATER / 2) {
        tcpPaused = false;
        tcp.resume();
      }
    });

    tcp.on('end', () => {
      end();
      if (ws.readyState === ws.OPEN) ws.close(1000);
    });
    tcp.on('error', () => {
      end();
      if (ws.readyState === ws.OPEN) ws.close(1011);
    });
    tcp.on('close', () => end());
    ws.on('error', () => tcp.destroy());
    ws.on('close', () => {
      end();
      if (ws.isPaused) ws.resume();
      // Like the gateway: a WebSocket gone without <close/> drops TCP; after <close/> the server
      // has been sent </stream:stream> and ends the connection itself.
      tcp.destroySoon();
      setTimeout(() => tcp.destroy(), 5000).unref();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listenHost, port: listenPort, backlog: 4096 }, () => {
      server.removeListener('error', reject);
      resolve({ port: server.address().port, stats, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

/** The command line shared by the floor relays: listens, prints its ready line, stops when told. */
function runRelayCli(start, name) {
  const args = process.argv.slice(2);
  const opt = (flag, fallback) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : fallback);
  const [listenHost, listenPort] = opt('--listen', '127.0.0.1:0').split(':');
  const [upstreamHost, upstreamPort] = opt('--upstream', '127.0.0.1:5222').split(':');
  const stop = () => process.exit(0);
  setTimeout(() => process.exit(3), Number(opt('--max-seconds', 1800)) * 1000).unref();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  start({ listenHost, listenPort: Number(listenPort), upstreamHost, upstreamPort: Number(upstreamPort) }).then(
    (r) => {
      process.stdout.write(`${JSON.stringify({ event: 'listening', port: r.port, pid: process.pid })}\n`);
      process.stdin.on('end', stop).on('error', stop).resume();
    },
    (err) => {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(1);
    },
  );
}

module.exports = { startFloorRelay, runRelayCli };

if (require.main === module) runRelayCli(startFloorRelay, 'floor-relay');
