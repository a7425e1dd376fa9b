#!/usr/bin/env node
'use strict';
/**
 * Runs the shared two-user scenario (tests/clients/scenario.md) with the `stanza` library over
 * RFC 7395 XMPP-over-WebSocket. Node 20, CommonJS; stanza brings its own `ws` for Node.
 *
 *   node tests/clients/stanza-driver.js '{"url":"ws://…","domain":"localhost","accounts":[…],"mechanism":"PLAIN"}'
 *
 * Prints exactly one JSON line on stdout; everything the library logs goes to stderr.
 */

// Before the library loads: stdout carries only the result line.
for (const level of ['log', 'info', 'debug', 'warn']) console[level] = console.error.bind(console);

const { randomBytes } = require('node:crypto');

const LIBRARY = 'stanza';
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
function createUser(stanza, args, account, waiter) {
  const resource = `${LIBRARY}-${randomBytes(4).toString('hex')}`;
  const client = stanza.createClient({
    jid: account.jid,
    password: account.password,
    resource,
    server: args.domain,
    transports: { websocket: args.url, bosh: false },
    autoReconnect: false,
    allowResumption: false,
  });
  // Keep only the requested mechanism, so a server offering SCRAM cannot be preferred over it.
  for (const { name } of [...client.sasl.mechanisms]) {
    if (name !== args.mechanism) client.sasl.disable(name);
  }

  const state = {
    fullJid: null,
    mechanismUsed: null,
    closeSent: false,
    closeReceived: false,
    disconnected: false,
    presences: [], // { from, type }
    messages: [], // { from, id, body }
    subscribesFrom: new Set(),
  };
  client.on('raw:outgoing', (data) => {
    const m = AUTH_MECHANISM.exec(data);
    if (m) state.mechanismUsed = m[1];
    if (CLOSE_TAG.test(data)) state.closeSent = true;
  });
  client.on('raw:incoming', (data) => {
    if (CLOSE_TAG.test(data)) state.closeReceived = true;
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
    state,
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

  const stanza = require('stanza');
  const libraryVersion = require('stanza/package.json').version;
  const waiter = createWaiter();
  const users = args.accounts.map((account) => createUser(stanza, args, account, waiter));
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
