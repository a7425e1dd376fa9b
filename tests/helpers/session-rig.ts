/**
 * A session core (src/session/session.ts) with no gateway around it, for unit tests: a recording
 * client transport and a dialer the test answers by hand, with a TCP socket pair standing for the
 * server. No clocks.
 */
import * as net from 'node:net';
import pino from 'pino';
import { defaultConfig } from '../../src/config';
import { limitsFrom } from '../../src/limits';
import { Metrics } from '../../src/metrics';
import { Session, type LogLevels } from '../../src/session/session';
import type { ClientTransport, SessionInput } from '../../src/session/transport';
import type { DialOutcome, Dialer } from '../../src/upstream/dialer';
import { MessageTokenizer } from '../../src/xml/message-tokenizer';
import type { ElementToken } from '../../src/xml/tokens';

export class RecordingTransport implements ClientTransport {
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
export function element(xml: string): ElementToken {
  const { tokens, error } = tokenizer.tokenize(Buffer.from(xml));
  if (error !== null || tokens[0]?.kind !== 'element') throw new Error(`not one element: ${xml}`);
  return tokens[0];
}

/**
 * A session whose dial waits until the test calls `connect()`: a socket pair stands for the server.
 * `levels`: the root logger's levels as the gateway reads them; `logger` counts how often the
 * per-connection logger is built and keeps what it writes.
 */
export function startSession(levels: LogLevels = { trace: false, debug: false, info: false }) {
  const config = defaultConfig({ preConnectQueueMessages: 4 });
  const logger = { built: 0, lines: [] as Array<Record<string, unknown>> };
  const transport = new RecordingTransport();
  let answer: ((outcome: DialOutcome) => void) | null = null;
  const dialer: Dialer = (_request, done) => {
    answer = done;
    return { cancel: () => undefined };
  };
  const session = new Session({
    config,
    limits: limitsFrom(config),
    log: () => {
      logger.built++;
      return pino({ level: 'trace' }, { write: (line: string) => logger.lines.push(JSON.parse(line)) });
    },
    levels,
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
    logger,
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
