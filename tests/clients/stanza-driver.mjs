#!/usr/bin/env node
/**
 * Runs the shared two-user scenario (tests/clients/scenario.md) with the `stanza` library over
 * RFC 7395 XMPP-over-WebSocket, or over BOSH (XEP-0206) with `"transport":"bosh"` and a BOSH URL.
 * Node 20; stanza is CommonJS and brings its own `ws` for Node.
 *
 *   node tests/clients/stanza-driver.mjs '{"url":"ws://…","domain":"localhost","accounts":[…],"mechanism":"PLAIN"}'
 *
 * Prints exactly one JSON line on stdout; everything the library logs goes to stderr.
 * Everything but the library adapter below lives in harness.mjs.
 */
import { createRequire } from 'node:module';
import { AUTH_MECHANISM, CLOSE_TAG, bare, runDriver } from './harness.mjs';

const require = createRequire(import.meta.url);
const TERMINATE_BODY = /<body\b[^>]*\btype=["']terminate["']/;

/**
 * One logged-in user. Everything the scenario needs, in the library's own idiom; the state it
 * records (presences, messages, raw auth/close) is what the scenario asserts on.
 */
function createUser({ lib: stanza, args, account, resource, state, waiter }) {
  const client = stanza.createClient({
    jid: account.jid,
    password: account.password,
    resource,
    server: args.domain,
    transports: args.transport === 'bosh' ? { websocket: false, bosh: args.url } : { websocket: args.url, bosh: false },
    autoReconnect: false,
    allowResumption: false,
  });
  // Keep only the requested mechanism, so a server offering SCRAM cannot be preferred over it.
  // ANY keeps the library's own preference order (SCRAM-*-PLUS first when offered).
  for (const { name } of [...client.sasl.mechanisms]) {
    if (args.mechanism !== 'ANY' && name !== args.mechanism) client.sasl.disable(name);
  }

  // The end of stream: RFC 7395 <close/>, or a BOSH body with type='terminate' (XEP-0124 §13).
  const closeTag = args.transport === 'bosh' ? TERMINATE_BODY : CLOSE_TAG;
  client.on('raw:outgoing', (data) => {
    const m = AUTH_MECHANISM.exec(data);
    if (m) state.mechanismUsed = m[1];
    if (closeTag.test(data)) state.closeSent = true;
  });
  client.on('raw:incoming', (data) => {
    if (closeTag.test(data)) state.closeReceived = true;
  });
  client.on('presence', (pres) => {
    state.presences.push({ from: pres.from, type: pres.type || 'available' });
    waiter.notify();
  });
  client.on('message', (msg) => {
    if (msg.body !== undefined) state.messages.push({ from: msg.from, id: msg.id, body: msg.body, type: msg.type });
    waiter.notify();
  });
  client.on('disconnected', () => {
    state.disconnected = true;
    waiter.notify();
  });

  let loginError = null;
  client.on('auth:failed', () => {
    loginError = new Error(`${account.jid}: authentication failed`);
    waiter.notify();
  });
  client.on('stream:error', (err) => {
    loginError = new Error(`${account.jid}: stream error ${err && err.condition}`);
    waiter.notify();
  });

  return {
    // transports/websocket.js: disconnect() sends <close/> and ends the socket only when the
    // server's <close/> arrives (or after 1 s).
    waitsForServerClose: true,
    async login() {
      client.on('session:started', () => {
        state.fullJid = client.jid;
        waiter.notify();
      });
      client.connect();
      await waiter.until(() => state.fullJid !== null || loginError !== null || state.disconnected);
      if (loginError) throw loginError;
      if (!state.fullJid) throw new Error(`${account.jid}: disconnected before the session started`);
    },
    async getRoster() {
      // stanza remembers the roster version of the last result and sends it as `ver`; the server
      // then answers an unchanged roster with an empty result (RFC 6121 §2.6.3). We want the items.
      client.config.rosterVer = undefined;
      const roster = await client.getRoster();
      return (roster.items || []).map((item) => ({
        jid: item.jid,
        subscription: item.subscription,
        name: item.name ?? null,
        groups: item.groups ?? [],
      }));
    },
    sendInitialPresence() {
      client.sendPresence();
    },
    autoApprove(peerBare) {
      client.on('subscribe', (pres) => {
        if (bare(pres.from) === peerBare) client.acceptSubscription(peerBare);
      });
    },
    subscribe(peerBare) {
      client.subscribe(peerBare);
    },
    sendChat(to, id, body) {
      client.sendMessage({ to, id, type: 'chat', body });
    },
    async disconnect() {
      client.disconnect();
      await waiter.until(() => state.disconnected);
    },
  };
}

runDriver({
  library: 'stanza',
  load: () => ({ lib: require('stanza'), version: require('stanza/package.json').version }),
  createUser,
});
