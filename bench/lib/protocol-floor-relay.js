'use strict';
/**
 * The protocol floor: the floor relay (./floor-relay.js) plus only what RFC 7395 itself asks of any
 * relay on the server-to-client side, to tell the protocol's share of the gateway's cost from the
 * gateway's own.
 *
 * Exactly the floor, except that the server's byte stream is split into one WebSocket message per
 * top-level element (§3.3.3), each made to stand alone with the stream header's namespace
 * declarations, the stream header sent as `<open/>` (§3.4) and `</stream:stream>` as `<close/>`
 * (§3.6). That work is done with the gateway's own built functions (dist/: the streaming
 * tokenizer, namespace completion, `<open/>` rendering), so the figure is what a relay conforming
 * to RFC 7395 would pay with the gateway's parser and nothing else: no checks on client messages
 * (the client side stays the floor's first-tag test), no admission, Origin, deadlines, routing,
 * TLS, features inspection, metrics or logs. It needs `npm run build`.
 *
 * CLI: node bench/lib/protocol-floor-relay.js --upstream 127.0.0.1:5222 [--listen 127.0.0.1:0] [--max-seconds 1800]
 *      prints one JSON line {"event":"listening","port":…,"pid":…}, like the floor.
 */
const path = require('node:path');
const { startFloorRelay, runRelayCli } = require('./floor-relay');

const DIST = path.join(__dirname, '..', '..', 'dist');
const { XmlTokenizer } = require(path.join(DIST, 'xml', 'tokenizer'));
const { namespaceScope, toStandaloneElement } = require(path.join(DIST, 'xml', 'standalone'));
const { openFromStreamHeader, closeElement } = require(path.join(DIST, 'transports', 'websocket', 'rfc7395'));

const TEXT = { binary: false };
const CLOSE = closeElement();

/**
 * The server→client half of RFC 7395 for one session. A client `<open/>` after the first restarts
 * the stream (§3.7): the server answers with a new document. A chunk the tokenizer refuses ends
 * the session (the floor's TCP error path).
 */
function rfc7395ServerSide(ws, tcp) {
  const tokenizer = new XmlTokenizer('stream');
  let scope = null;
  let opens = 0;
  return {
    clientOpened() {
      if (opens++ === 0) return;
      tokenizer.restart();
      scope = null;
    },
    data(chunk) {
      const { tokens, error } = tokenizer.feed(chunk);
      // Several elements of one read leave in one socket write, as the gateway does (cork).
      const socket = ws._socket;
      if (tokens.length > 1) socket.cork();
      for (const token of tokens) {
        if (token.kind === 'stream-open') {
          scope = namespaceScope(token);
          ws.send(openFromStreamHeader(token), TEXT);
        } else if (token.kind === 'stream-close') {
          ws.send(CLOSE, TEXT);
        } else if (scope !== null) {
          ws.send(toStandaloneElement(token, scope) ?? token.bytes, TEXT);
        }
      }
      if (tokens.length > 1) socket.uncork();
      if (error !== null) tcp.destroy(new Error(error.text));
    },
  };
}

const startProtocolFloorRelay = (opts) => startFloorRelay({ ...opts, serverSide: rfc7395ServerSide });

module.exports = { startProtocolFloorRelay };

if (require.main === module) runRelayCli(startProtocolFloorRelay, 'protocol-floor-relay');
