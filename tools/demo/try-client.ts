/**
 * `npm run demo:try`: the smallest possible RFC 7395 client, to see the gateway work without a
 * browser. It logs in with SASL PLAIN, restarts the stream, binds, sends a message to itself and
 * prints every frame both ways. Raw `ws` on purpose: what you see is exactly what a browser sends.
 *
 * Usage: node build/tools/demo/try-client.js [ws-url] [jid] [password]
 */
import WebSocket from 'ws';

const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

export async function tryGateway(
  url: string,
  jid: string,
  password: string,
  out: (line: string) => void = console.log,
  wsOptions: WebSocket.ClientOptions = {},
): Promise<void> {
  const [local, domain] = jid.split('@') as [string, string];
  const ws = new WebSocket(url, 'xmpp', wsOptions);
  const inbox: string[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    out(`S: ${text}`);
    inbox.push(text);
    wake?.();
  });
  const next = async (re: RegExp): Promise<string> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = inbox.findIndex((m) => re.test(m));
      if (i >= 0) return inbox.splice(0, i + 1).pop()!;
      if (/^<close|<stream:error/.test(inbox.join(''))) throw new Error(`server ended the stream: ${inbox.join(' ')}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 500);
      });
    }
  };
  const send = (xml: string): void => {
    out(`C: ${xml.replace(/>[A-Za-z0-9+/=]{8,}</, '>[credentials]<')}`);
    ws.send(xml);
  };
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const open = `<open xmlns="${NS_FRAMING}" to="${domain}" version="1.0"/>`;
  send(open);
  await next(/<stream:features/);
  send(`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">${Buffer.from(`\0${local}\0${password}`).toString('base64')}</auth>`);
  await next(/<success|<failure/).then((m) => {
    if (m.startsWith('<failure')) throw new Error('authentication failed');
  });
  send(open);
  await next(/<stream:features/);
  send('<iq xmlns="jabber:client" type="set" id="bind1"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>try</resource></bind></iq>');
  const bound = /<jid>([^<]+)<\/jid>/.exec(await next(/id=["']bind1["']/))?.[1] ?? jid;
  send(`<message xmlns="jabber:client" to="${bound}" type="chat" id="m1"><body>Hello through the gateway \u{1F44B}</body></message>`);
  await next(/<message/);
  send(`<close xmlns="${NS_FRAMING}"/>`);
  await next(/^<close/);
  ws.close();
  out(`OK: logged in as ${bound}, sent a message to itself and got it back.`);
}

if (require.main === module) {
  const [url = 'ws://127.0.0.1:5280/xmpp-websocket', jid = 'alice@localhost', password = 'alice-demo-password'] = process.argv.slice(2);
  tryGateway(url, jid, password).catch((err: Error) => {
    console.error(`try-client: ${err.message}`);
    process.exit(1);
  });
}
