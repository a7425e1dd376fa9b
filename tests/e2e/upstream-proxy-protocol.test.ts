/**
 * `--upstream-proxy-protocol v1|v2` against a real server that expects the header: ejabberd 23.01
 * with `use_proxy_protocol: true` on its c2s listener (STARTTLS still required). The client's
 * address as the gateway saw it (here from X-Forwarded-For, the gateway's peer being a trusted
 * proxy on loopback) must be the address ejabberd logs for the login.
 */
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { makePki, type TestPki } from '../helpers/certs';
import { startEjabberd, type EjabberdInstance } from '../helpers/ejabberd';
import { TestClient, openXml } from '../helpers/ws-client';

let pki: TestPki;
let ejabberd: EjabberdInstance;
const gateways: RunningGateway[] = [];

beforeAll(async () => {
  pki = makePki();
  const cert = pki.issue('localhost', ['localhost']);
  ejabberd = await startEjabberd({ certPem: cert.cert + pki.ca + cert.key, proxyProtocol: true });
}, 120_000);

afterAll(async () => {
  for (const g of gateways) await g.close();
  await ejabberd?.stop();
  pki?.remove();
});

/** Logs in as alice with PLAIN through `gw`, claiming to come from `clientIp` (X-Forwarded-For). */
async function loginFrom(gw: RunningGateway, clientIp: string): Promise<TestClient> {
  const c = await TestClient.open(gw.url, 'xmpp', { headers: { 'X-Forwarded-For': clientIp } });
  c.send(openXml());
  await c.waitForMatch(/<mechanism>PLAIN<\/mechanism>/, 15_000);
  const alice = ejabberd.accounts[0]!;
  c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${alice.username}\0${alice.password}`).toString('base64')}</auth>`);
  await c.waitForMatch(/<success/, 15_000);
  return c;
}

async function waitForLog(re: RegExp): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const hit = ejabberd.log().split('\n').find((l) => re.test(l));
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ejabberd never logged ${re}; log tail:\n${ejabberd.log().slice(-3000)}`);
}

it.each([
  ['v1', '203.0.113.7'],
  ['v2', '198.51.100.23'],
] as const)('%s: ejabberd sees the client address %s, not the gateway\'s', async (version, clientIp) => {
  const gw = await startGateway({ upstream: { host: '127.0.0.1', port: ejabberd.c2sPort }, upstreamTls: 'auto', upstreamCa: pki.caFile, upstreamProxyProtocol: version });
  gateways.push(gw);
  const c = await loginFrom(gw, clientIp);
  const line = await waitForLog(new RegExp(`Accepted c2s PLAIN authentication for ${ejabberd.accounts[0]!.jid}.*${clientIp.replace(/\./g, '\\.')}`));
  expect(line).not.toMatch(/from 127\.0\.0\.1/);
  c.ws.close();
  await c.closed;
});

it('without the header, a PROXY-protocol listener drops the connection: remote-connection-failed', async () => {
  const gw = await startGateway({ upstream: { host: '127.0.0.1', port: ejabberd.c2sPort }, upstreamTls: 'auto', upstreamCa: pki.caFile, upstreamProxyProtocol: 'off', connectTimeoutMs: 5000 });
  gateways.push(gw);
  const c = await TestClient.open(gw.url);
  c.send(openXml());
  await c.closed;
  expect(c.messages.join('')).toMatch(/remote-connection-failed/);
});
