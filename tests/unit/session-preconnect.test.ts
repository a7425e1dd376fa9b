/**
 * The session core while its server connection is not ready yet (src/session/session.ts): client
 * reads are paused once something is queued for the server, not at the open (a login sends
 * `<open/>` and waits, and must not cost a pause and resume), and what was queued reaches the server
 * in order once it is. A recording client transport and a dialer the test answers by hand; no
 * sockets, no clocks.
 */
import * as net from 'node:net';
import pino from 'pino';
import { defaultConfig } from '../../src/config';
import { limitsFrom } from '../../src/limits';
import { Metrics } from '../../src/metrics';
import { Session } from '../../src/session/session';
import type { ClientTransport, SessionInput } from '../../src/session/transport';
import type { DialOutcome, Dialer } from '../../src/upstream/dialer';
import { MessageTokenizer } from '../../src/xml/message-tokenizer';
import type { ElementToken } from '../../src/xml/tokens';

class RecordingTransport implements ClientTransport {
  readonly framing = 'rfc7395';
  readonly standaloneElements = true;
  readonly alive = true;
  readonly congested = false;
  readonly bytesToClient = 0;
  readonly calls: string[] = [];
  session!: SessionInput;
  attach(session: SessionInput): void {
    this.session = session;
  }
  serverOpen(): void {}
  serverElement(): void {}
  cork(): void {}
  uncork(): void {}
  pauseIntake(): void {
    this.calls.push('pause');
  }
  resumeIntake(): void {
    this.calls.push('resume');
  }
  ping(): void {}
  goodbye(): void {
    this.calls.push('goodbye');
  }
  destroy(): void {}
}

const tokenizer = new MessageTokenizer({ maxElementBytes: 10_000 });
function element(xml: string): ElementToken {
  const { tokens, error } = tokenizer.tokenize(Buffer.from(xml));
  if (error !== null || tokens[0]?.kind !== 'element') throw new Error(`not one element: ${xml}`);
  return tokens[0];
}

/** A session whose dial waits until the test calls `connect()`: a socket pair stands for the server. */
function start() {
  const config = defaultConfig({ preConnectQueueMessages: 4 });
  const transport = new RecordingTransport();
  let answer: ((outcome: DialOutcome) => void) | null = null;
  const dialer: Dialer = (_request, done) => {
    answer = done;
    return { cancel: () => undefined };
  };
  const session = new Session({
    config,
    limits: limitsFrom(config),
    log: () => pino({ enabled: false }),
    trace: false,
    debug: false,
    metrics: new Metrics(),
    transport,
    dialer,
    clientAddress: '127.0.0.1',
    onClosed: () => undefined,
  });
  const open = element("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>");
  return {
    session,
    transport,
    openAttrs: open.attrs,
    dialed: () => answer !== null,
    /** Completes the dial with one end of a connected TCP pair; resolves with what the server end reads. */
    async connect(): Promise<{ received: () => string; close: () => void }> {
      const server = net.createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      await new Promise<void>((r) => client.once('connect', r));
      const peer = await accepted;
      let text = '';
      peer.on('data', (d: Buffer) => (text += d.toString()));
      answer!({ ok: true, socket: client, target: 'test', secure: false });
      return {
        received: () => text,
        close: () => {
          session.clientGone('test over');
          peer.destroy();
          client.destroy();
          server.close();
        },
      };
    },
  };
}

it('does not pause client reads at the open: a login waits for the server without a pause and resume', async () => {
  const t = start();
  t.session.clientOpen(t.openAttrs);
  expect(t.dialed()).toBe(true);
  expect(t.transport.calls).toEqual([]);
  const server = await t.connect();
  expect(t.transport.calls).toEqual([]);
  server.close();
});

it('pauses client reads once an element is queued before the server is ready, and delivers it in order after the header', async () => {
  const t = start();
  t.session.clientOpen(t.openAttrs);
  t.session.clientElement(element("<presence xmlns='jabber:client' id='p1'/>"), 0);
  expect(t.transport.calls).toEqual(['pause']);
  t.session.clientElement(element("<presence xmlns='jabber:client' id='p2'/>"), 0);
  expect(t.transport.calls).toEqual(['pause']); // already paused
  const server = await t.connect();
  expect(t.transport.calls).toEqual(['pause', 'resume']);
  for (;;) {
    if (t.session.state === 'closed') throw new Error('session ended');
    if (server.received().includes("id='p2'")) break;
    await new Promise((r) => setImmediate(r));
  }
  const text = server.received();
  expect(text.indexOf('<stream:stream')).toBeLessThan(text.indexOf("id='p1'"));
  expect(text.indexOf("id='p1'")).toBeLessThan(text.indexOf("id='p2'"));
  server.close();
});
