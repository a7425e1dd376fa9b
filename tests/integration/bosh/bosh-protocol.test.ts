/**
 * BOSH (XEP-0124 / XEP-0206) through the real gateway to a scripted c2s server: session creation,
 * SASL, restart, bind, messages both ways, terminate; then the rid window and the error paths.
 */
import { startGateway, type RunningGateway } from '../../helpers/gateway';
import { FakeServer } from '../../helpers/fake-server';
import { BoshSessionClient, children } from '../../helpers/bosh-client';

let server: FakeServer;
let gw: RunningGateway;
let url: string;

beforeEach(async () => {
  server = await FakeServer.start();
  gw = await startGateway({ upstream: server.upstream, connectTimeoutMs: 500, closeTimeoutMs: 500 });
  url = `http://127.0.0.1:${gw.port}/http-bind`;
});
afterEach(async () => {
  await gw.close();
  await server.close();
});

/** Creation, SASL PLAIN, restart, bind: a logged-in session. */
async function login(client: BoshSessionClient): Promise<void> {
  const created = await client.create();
  expect(created.status).toBe(200);
  expect(children(created.body).map((c) => c.name)).toEqual(['stream:features']);
  const auth = await client.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHVzZXIAcGFzcw==</auth>");
  expect(children(auth.body).map((c) => c.name)).toEqual(['success']);
  const restart = await client.send('', "to='localhost' xml:lang='en' xmpp:restart='true'");
  expect(children(restart.body)[0]?.getChild('bind')).toBeDefined();
  const bind = await client.send("<iq type='set' id='b1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  expect(children(bind.body)[0]?.attrs).toMatchObject({ type: 'result', id: 'b1', xmlns: 'jabber:client' });
}

describe('BOSH session life', () => {
  it('creates a session with every XEP-0124 §7.2 / XEP-0206 §3 attribute and the features', async () => {
    const client = new BoshSessionClient(url);
    try {
      const reply = await client.create("wait='60' hold='1' ver='1.6'");
      expect(reply.headers['content-type']).toBe('text/xml; charset=utf-8');
      expect(reply.body!.attrs).toMatchObject({
        xmlns: 'http://jabber.org/protocol/httpbind', 'xmlns:xmpp': 'urn:xmpp:xbosh', 'xmlns:stream': 'http://etherx.jabber.org/streams',
        wait: '50', hold: '1', requests: '2', ver: '1.6', from: 'localhost', authid: 's1', inactivity: '60', maxpause: '120',
        secure: 'true', 'xmpp:version': '1.0', 'xmpp:restartlogic': 'true',
      });
      expect(reply.body!.attrs.sid).toMatch(/^[A-Za-z0-9_-]{20}$/);
      const conn = server.connections[0]!;
      expect(conn.received).toMatch(/<stream:stream [^>]*to='localhost'/);
    } finally {
      client.close();
    }
  });

  it('logs in, exchanges messages both ways and terminates cleanly', async () => {
    const client = new BoshSessionClient(url);
    try {
      await login(client);
      // A message without xmlns inherits jabber:client (XEP-0206 §2 note); the fake server echoes it.
      const echo = await client.send("<message to='user@localhost/r' type='chat'><body>héllo ☃</body></message>");
      let msg = children(echo.body).find((c) => c.name === 'message');
      if (!msg) msg = await client.until((c) => c.name === 'message');
      expect(msg.attrs.xmlns).toBe('jabber:client');
      expect(msg.getChildText('body')).toBe('héllo ☃');
      // Server push while a request is held: the held request carries it.
      const held = client.send();
      await new Promise((r) => setTimeout(r, 100));
      server.connections[0]!.write("<message from='x@localhost' to='user@localhost/r'><body>push</body></message>");
      const pushed = await held;
      expect(children(pushed.body)[0]?.getChildText('body')).toBe('push');
      const bye = await client.send("<presence type='unavailable' xmlns='jabber:client'/>", "type='terminate'");
      expect(bye.status).toBe(200);
      expect(bye.body!.attrs.type).toBe('terminate');
      expect(bye.body!.attrs.condition).toBeUndefined();
      const conn = server.connections[0]!;
      await conn.closed;
      expect(conn.received).toContain("<presence type='unavailable' xmlns='jabber:client'/>");
      expect(conn.gotFooter).toBe(true);
      // The sid is gone now.
      const after = await client.send();
      expect(after.body!.attrs).toMatchObject({ type: 'terminate', condition: 'item-not-found' });
    } finally {
      client.close();
    }
  });
});

describe('long polls', () => {
  it('a request is held for the whole wait, longer than --handshake-timeout, then answered empty', async () => {
    await gw.close();
    gw = await startGateway({ upstream: server.upstream, handshakeTimeoutMs: 1000 });
    url = `http://127.0.0.1:${gw.port}/http-bind`;
    const client = new BoshSessionClient(url);
    try {
      await client.create("wait='3' hold='1' ver='1.6'");
      const started = Date.now();
      const reply = await client.send();
      expect(reply.status).toBe(200);
      expect(children(reply.body)).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    } finally {
      client.close();
    }
  });
});
