/**
 * The standalone connection manager against real servers with their default stance, STARTTLS
 * REQUIRED on c2s: a private Prosody 0.12 (mod_tls, c2s_require_encryption) and a private ejabberd
 * 23.01 (starttls_required), both with certificates made by openssl at setup. The gateway runs with
 * its defaults (--upstream-tls auto) plus --upstream-ca for the test CA: no server change is needed.
 * The same client scenario runs against each server's own WebSocket endpoint as the reference.
 */
import * as net from 'node:net';
import * as ltx from 'ltx';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { makePki, type TestPki } from '../helpers/certs';
import { startEjabberd, type EjabberdInstance } from '../helpers/ejabberd';
import { describeDriverResult, expectScenarioPassed, runDriver, type DriverName } from '../helpers/run-driver';
import { TestClient, closeXml, openXml } from '../helpers/ws-client';
import { negotiateStartTls } from '../../src/upstream/starttls';
import { RawSession, is, isElement, login, NS_SASL } from '../helpers/raw-xmpp';
import { createTlsPolicy, startTls } from '../../src/upstream/tls';

const DRIVERS: DriverName[] = ['stanza', 'strophe', 'xmppjs'];

let pki: TestPki;
let prosody: ProsodyInstance;
let ejabberd: EjabberdInstance;
let viaProsody: RunningGateway;
let viaEjabberd: RunningGateway;

beforeAll(async () => {
  pki = makePki();
  const cert = pki.issue('localhost', ['localhost']);
  [prosody, ejabberd] = await Promise.all([
    startProsody({
      requireEncryption: true,
      tls: { certFile: cert.certFile, keyFile: cert.keyFile },
      // XEP-0198 (Debian's Prosody 0.12 ships mod_smacks); the rest as startProsody enables them.
      extraConfig: 'modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "websocket"; "tls"; "smacks" }',
    }),
    startEjabberd({ certPem: cert.cert + pki.ca + cert.key }),
  ]);
  // The gateway's defaults, except the test CA (and upstreamTls back to the product default, which
  // tests/helpers/gateway.ts turns off for plaintext fakes).
  viaProsody = await startGateway({ upstream: { host: '127.0.0.1', port: prosody.c2sPort }, upstreamTls: 'auto', upstreamCa: pki.caFile });
  viaEjabberd = await startGateway({ upstream: { host: '127.0.0.1', port: ejabberd.c2sPort }, upstreamTls: 'auto', upstreamCa: pki.caFile });
}, 120_000);

afterAll(async () => {
  await viaProsody?.close();
  await viaEjabberd?.close();
  await prosody?.stop();
  await ejabberd?.stop();
  pki?.remove();
});

/** Features as the client sees them through a gateway. */
async function featuresThrough(gw: RunningGateway): Promise<ltx.Element> {
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  const [, features] = await c.waitFor(2);
  c.send(closeXml);
  await c.closed;
  return ltx.parse(features!);
}

/** What the server itself offers after STARTTLS, read with the gateway's own negotiation code. */
async function featuresAfterTls(port: number): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise((r) => socket.once('connect', r));
  const outcome = await new Promise<string>((resolve) => negotiateStartTls(socket, 'localhost', 1 << 20, (o) => resolve(o.kind)));
  expect(outcome).toBe('proceed');
  const policy = createTlsPolicy(pki.caFile, true);
  const tls = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
    const s = startTls({ socket, domain: 'localhost', policy, alpn: false }, (problem) => (problem ? reject(new Error(problem.message)) : resolve(s)));
  });
  tls.write("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>");
  let text = '';
  for (let i = 0; i < 100 && !text.includes('</stream:features>'); i++) {
    await new Promise<void>((r) => tls.once('data', (d: Buffer) => ((text += d.toString()), r())));
  }
  tls.destroy();
  return text;
}

describe('the gateway does STARTTLS itself; the client sees post-TLS features only', () => {
  it.each(['prosody', 'ejabberd'] as const)('%s: no <starttls/>, SASL offered', async (server) => {
    const f = await featuresThrough(server === 'prosody' ? viaProsody : viaEjabberd);
    expect(f.getChild('starttls')).toBeUndefined();
    expect(f.getChild('mechanisms')!.getChildren('mechanism').map((m) => m.getText())).toContain('PLAIN');
  });

  it('ejabberd 23.01 offers SCRAM-*-PLUS over TLS; through the gateway they are gone', async () => {
    const direct = await featuresAfterTls(ejabberd.c2sPort);
    expect(direct).toMatch(/SCRAM-SHA-256-PLUS/);
    const through = await featuresThrough(viaEjabberd);
    const mechanisms = through.getChild('mechanisms')!.getChildren('mechanism').map((m) => m.getText());
    expect(mechanisms).toEqual(expect.arrayContaining(['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']));
    expect(mechanisms.filter((m) => m.endsWith('-PLUS'))).toEqual([]);
    expect(through.getChild('sasl-channel-binding')).toBeUndefined();
  });

  it("stanza with its own mechanism choice logs in to ejabberd (it would pick SCRAM-SHA-256-PLUS and fail if it were offered)", async () => {
    const result = await runDriver('stanza', { url: viaEjabberd.url, domain: ejabberd.domain, accounts: ejabberd.accounts, mechanism: 'ANY', timeoutMs: 30_000 });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expect(result.report!.mechanismsUsed![0]).toMatch(/^SCRAM-SHA-(256|512|1)$/);
  });
});

describe.each([
  ['Prosody', () => ({ gw: viaProsody, server: prosody })],
  ['ejabberd', () => ({ gw: viaEjabberd, server: ejabberd })],
] as const)('client scenario through the gateway to %s (STARTTLS required)', (_name, stack) => {
  it.each(DRIVERS)('%s: PLAIN login, restart, bind, roster, presence, messages both ways, close', async (name) => {
    const { gw, server } = stack();
    const result = await runDriver(name, { url: gw.url, domain: server.domain, accounts: server.accounts, mechanism: 'PLAIN', timeoutMs: 30_000 });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expectScenarioPassed(name, result.report!, server.accounts);
  });

  it('stanza with SCRAM-SHA-1', async () => {
    const { gw, server } = stack();
    const result = await runDriver('stanza', { url: gw.url, domain: server.domain, accounts: server.accounts, mechanism: 'SCRAM-SHA-1', timeoutMs: 30_000 });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expectScenarioPassed('stanza', result.report!, server.accounts, 'SCRAM-SHA-1');
  });
});

describe.each([
  ['Prosody', () => prosody],
  ['ejabberd', () => ejabberd],
] as const)("reference: the same scenario against %s's own WebSocket endpoint", (_name, server) => {
  it.each(DRIVERS)('%s', async (name) => {
    const s = server();
    const result = await runDriver(name, { url: s.websocketUrl, domain: s.domain, accounts: s.accounts, mechanism: 'PLAIN', timeoutMs: 30_000 });
    if (!result.ok) throw new Error(describeDriverResult(result));
    expectScenarioPassed(name, result.report!, s.accounts);
  });
});

const NS_SM = 'urn:xmpp:sm:3';

describe.each([
  ['Prosody', () => ({ gw: viaProsody, server: prosody })],
  ['ejabberd', () => ({ gw: viaEjabberd, server: ejabberd })],
] as const)('XEP-0198 through the gateway to %s: enable, abrupt drop, resume', (_name, stack) => {
  it('the message sent while the client was gone arrives after <resume/>', async () => {
    const { gw, server } = stack();
    const [alice, bob] = server.accounts as [typeof server.accounts[0], typeof server.accounts[0]];
    const a = await login(gw.url, { username: alice.username, password: alice.password, domain: server.domain, mechanism: 'PLAIN', resource: 'sm' });
    a.send(`<enable xmlns='${NS_SM}' resume='true'/>`);
    const enabled = await a.waitFor((el) => isElement(el, 'enabled', NS_SM), '<enabled/>');
    const previd = enabled.attrs.id as string;
    expect(previd).toBeTruthy();
    // One stanza handled before the drop: the answer to a ping (counted by h).
    a.send(`<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await a.waitFor(is.iqReply('p1'), 'ping reply');
    // The drop: no <close/>, the WebSocket just goes. The gateway must not end the server's stream.
    a.terminate();
    await waitFor(() => gw.gateway.sessionCount === 0, 'the gateway to drop the session');

    const b = await login(gw.url, { username: bob.username, password: bob.password, domain: server.domain, mechanism: 'PLAIN' });
    b.send(`<message xmlns='jabber:client' to='${a.jid}' type='chat' id='away-1'><body>sent while away</body></message>`);

    // A new WebSocket: authenticate, restart, then resume instead of binding (XEP-0198 §5).
    const r = await RawSession.connect(gw.url);
    r.send(openXml(server.domain));
    await r.waitFor(is.features, 'features');
    r.send(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${Buffer.from(`\0${alice.username}\0${alice.password}`).toString('base64')}</auth>`);
    await r.waitFor((el) => isElement(el, 'success', NS_SASL), 'SASL success');
    r.send(openXml(server.domain));
    const features = await r.waitFor(is.features, 'post-auth features');
    expect(features.getChild('sm', NS_SM)).toBeDefined();
    r.send(`<resume xmlns='${NS_SM}' previd='${previd}' h='1'/>`);
    await r.waitFor((el) => isElement(el, 'resumed', NS_SM), '<resumed/>', 15_000);
    const msg = await r.waitFor((el) => is.message(el) && el.getChildText('body') === 'sent while away', 'the queued message', 15_000);
    expect(msg.attrs.from).toMatch(new RegExp(`^${bob.jid}/`));
    await r.close();
    await b.close();
  });
});

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
