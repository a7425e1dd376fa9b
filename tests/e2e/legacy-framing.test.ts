/**
 * Load-testing mode: a client speaking the older framing (a classic <stream:stream> header as a
 * message, as Tsung sends) logs in to a real Prosody through the gateway and is served in that framing.
 */
import { startGateway, useProsodyBehindGateway } from '../helpers/gateway';
import { TestClient } from '../helpers/ws-client';

const HEADER = (to: string) =>
  `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${to}' version='1.0'>`;

const stack = useProsodyBehindGateway();

it('logs in, binds, messages itself and closes in the legacy framing', async () => {
  const [alice] = stack.prosody.accounts;
  const c = await TestClient.open(stack.gw.url);
  c.send(HEADER(stack.prosody.domain));
  // The server's header as it is (a start tag, not an RFC 7395 <open/>) and its features in ONE
  // message: Tsung takes each message as the answer to its latest request.
  const first = await c.waitForMatch(/^<stream:stream/);
  expect(c.messages).toHaveLength(1);
  const [, header, features] = /^(<stream:stream [^>]*>)(<stream:features.*)$/.exec(first) ?? [];
  expect(header).toMatch(/xmlns:stream=['"]http:\/\/etherx\.jabber\.org\/streams['"]/);
  expect(features).not.toMatch(/xmlns:stream=/); // relayed inside the client's stream context
  expect(features).toMatch(/<mechanism>PLAIN<\/mechanism>/);
  const auth = Buffer.from(`\0${alice!.username}\0${alice!.password}`).toString('base64');
  c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`);
  await c.waitForMatch(/^<success/);
  const before = c.messages.length;
  c.send(HEADER(stack.prosody.domain)); // restart
  await c.waitFor(before + 1);
  expect(c.messages[before]).toMatch(/^<stream:stream [^>]*><stream:features>.*urn:ietf:params:xml:ns:xmpp-bind/);
  c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>tsung</resource></bind></iq>");
  const bound = /<jid>([^<]+)<\/jid>/.exec(await c.waitForMatch(/id=['"]b1['"]/))![1]!;
  expect(bound).toBe(`${alice!.jid}/tsung`);
  c.send(`<message to='${bound}' id='m1' type='chat'><body>load \u{1F680}</body></message>`);
  expect(await c.waitForMatch(/<message[^>]*id=['"]m1['"]/)).toContain('load \u{1F680}');
  c.send('</stream:stream>');
  const closed = await c.closed;
  expect(closed.code).toBe(1000);
  expect(c.messages[c.messages.length - 1]).toBe('</stream:stream>');
  const metrics = await stack.gw.gateway.metrics.registry.getSingleMetricAsString('xmppgw_sessions_total');
  expect(metrics).toMatch(/xmppgw_sessions_total\{framing="legacy"\} 1/);
});

it('a legacy client gets stream errors in its framing', async () => {
  const c = await TestClient.open(stack.gw.url);
  c.send(HEADER(stack.prosody.domain));
  await c.waitForMatch(/^<stream:stream[^>]*><stream:features/);
  c.send('<message><!-- x --></message>');
  await c.closed;
  const last = c.messages.slice(-2);
  expect(last[0]).toMatch(/^<stream:error><restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'\/>/);
  expect(last[1]).toBe('</stream:stream>');
});

it('--legacy-framing off refuses it with invalid-namespace', async () => {
  const strict = await startGateway({ upstream: { host: '127.0.0.1', port: stack.prosody.c2sPort }, legacyFraming: 'off' });
  try {
    const c = await TestClient.open(strict.url);
    c.send(HEADER(stack.prosody.domain));
    await c.closed;
    expect(c.messages[1]).toMatch(/<invalid-namespace /);
    expect(c.messages[2]).toBe('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>');
  } finally {
    await strict.close();
  }
});
