/**
 * The library-independent half of every client driver (tests/clients/scenario.md): argument
 * parsing, the waiter, the one JSON result line and exit codes, the hard timeout, and the two-user
 * scenario itself. A driver supplies only its library adapter and calls `runDriver`:
 *
 *   import { runDriver } from './harness.mjs';
 *   runDriver({ library: 'name', load: async () => ({ lib, version }), createUser });
 *
 * Plain ESM with no npm dependencies: the drivers run on different Nodes (20 and 22) and resolve
 * their libraries from different node_modules, and this file must load in all of them.
 */
import { randomBytes } from 'node:crypto';

const DEFAULT_TIMEOUT_MS = 20_000;
const SETTLE_MS = 300;
const ROSTER_RETRY_MS = 100;
const BODY_A_TO_B = 'héllo 🌍 <&> "quotes"';
const BODY_B_TO_A = 'réponse ✓ 🌎 \'apos\' <&> "q"';

/** Finds the SASL mechanism in outgoing wire data (`<auth mechanism="…">`). */
export const AUTH_MECHANISM = /<auth\b[^>]*\bmechanism=["']([^"']+)["']/;
/** Finds RFC 7395's `<close/>` in wire data, either way. */
export const CLOSE_TAG = /<close\b/;
export const bare = (jid) => String(jid || '').split('/')[0];
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- harness --------------------------------------------------------------------------------

const started = Date.now();
let library = 'unknown';
let stage = 'start';
let finished = false;

/** Writes the one result line and exits; later calls (a late error after success) are ignored. */
function finish(result, code) {
  if (finished) return;
  finished = true;
  if (!result.ok) process.stderr.write(`${library} driver failed at ${result.stage}: ${result.error}\n`);
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
  finish({ ok: false, library, stage, error, state }, code);
}

function parseArgs(argv) {
  if (argv.length !== 1) throw new Error('expected exactly one JSON argument');
  const args = JSON.parse(argv[0]);
  if (args.transport !== undefined && args.transport !== 'websocket' && args.transport !== 'bosh') {
    throw new Error('"transport" must be websocket or bosh');
  }
  const bosh = args.transport === 'bosh';
  if (typeof args.url !== 'string' || !(bosh ? /^https?:\/\//: /^wss?:\/\//).test(args.url)) {
    throw new Error(bosh ? '"url" must be an http:// or https:// URL for BOSH' : '"url" must be a ws:// or wss:// URL');
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
    transport: bosh ? 'bosh' : 'websocket',
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

/**
 * What the adapter records for one user as the library reports it; the scenario asserts on it
 * and a failure report includes it.
 */
function createUserState() {
  return {
    fullJid: null,
    mechanismUsed: null,
    closeSent: false,
    closeReceived: false,
    disconnected: false,
    presences: [], // { from, type }
    messages: [], // { from, id, body, type }
  };
}

// --- scenario -------------------------------------------------------------------------------

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
    // ANY: the library picks from what the server offers (how the channel-binding stripping is proven).
    if (args.mechanism !== 'ANY' && u.state.mechanismUsed !== args.mechanism) {
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

async function main({ load, createUser }) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    return fail(`bad argument: ${err.message}`, 64);
  }
  // Ends a stuck run whatever the library is doing; finish() exits, so it never has to be cleared.
  setTimeout(() => fail(`hard timeout after ${args.timeoutMs} ms`, 2), args.timeoutMs);

  const { lib, version: libraryVersion } = await load();
  const waiter = createWaiter();
  const users = args.accounts.map((account) => {
    const state = createUserState();
    const resource = `${library}-${randomBytes(4).toString('hex')}`;
    return { ...createUser({ lib, args, account, resource, state, waiter }), state };
  });
  const result = await runScenario(args, users, waiter);
  finish(
    {
      ok: true,
      library,
      libraryVersion,
      url: args.url,
      mechanism: args.mechanism,
      ...result,
      durationMs: Date.now() - started,
    },
    0,
  );
}

/**
 * Runs the scenario with one library and exits with its result. The adapter:
 *
 * - `library`: the name reported as `library` and used in resources (`<library>-<hex>`).
 * - `load()`: loads the library (sync or async) and returns `{ lib, version }`. Load it here, not
 *   at the driver's top level, so that it loads after console output has been sent to stderr.
 * - `createUser({ lib, args, account, resource, state, waiter })`: one user, in the library's own
 *   idiom. It fills `state` (see createUserState) from the library's events, calls
 *   `waiter.notify()` after each change, and returns `{ waitsForServerClose, login(),
 *   getRoster(), sendInitialPresence(), autoApprove(peerBare), subscribe(peerBare),
 *   sendChat(to, id, body), disconnect() }`. `login()` resolves with `state.fullJid` set;
 *   `getRoster()` resolves with `[{ jid, subscription, name, groups }]`; `disconnect()` resolves
 *   once the stream is closed.
 */
export function runDriver(adapter) {
  library = adapter.library;
  // Before the library loads (in adapter.load()): stdout carries only the result line.
  for (const level of ['log', 'info', 'debug', 'warn']) console[level] = console.error.bind(console);
  process.on('unhandledRejection', (err) => fail(err));
  process.on('uncaughtException', (err) => fail(err));
  main(adapter).catch((err) => fail(err));
}
