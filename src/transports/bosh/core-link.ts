/**
 * Interim seam between a BOSH session and the session core (../../session/session.ts), which today
 * speaks to a `ws` WebSocket: this object looks like one to it. Client elements are emitted as
 * RFC 7395 messages (`<open/>` for creation and restart, `<close/>` for terminate); what the core
 * "sends" is sorted back into the BOSH session's `opened`, `deliver` and `ended`. Reads pause and
 * resume through the same calls the core makes on a WebSocket, and the BOSH queue shows up as the
 * WebSocket's `bufferedAmount`, scaled so the core's high-water mark means --bosh-max-queued.
 *
 * When the core grows a transport-neutral client interface this file is the one to replace.
 */
import { EventEmitter } from 'node:events';
import { escapeAttr } from '../../xml/escape';
import { XmlTokenizer } from '../../xml/tokenizer';
import type { Attribute, ElementToken } from '../../xml/tokens';
import { NS_FRAMING } from '../../xmpp/namespaces';
import { streamErrorConditionOf } from '../../xmpp/stream-error';
import { boshConditionOf } from './conditions';
import type { BoshSession, CoreLink } from './bosh-session';

const OPEN_READY = 1;
const CLOSED = 3;
const CLOSE_XML = Buffer.from(`<close xmlns='${NS_FRAMING}'/>`);
const STREAM_ERROR = Buffer.from('<stream:error');

/** The attributes of a single `<open/>` the core wrote. */
function openAttrs(xml: string): readonly Attribute[] {
  const { tokens } = new XmlTokenizer('fragment').feed(Buffer.from(xml));
  const el = tokens[0];
  return el !== undefined && el.kind === 'element' ? el.attrs : [];
}

function attr(attrs: readonly Attribute[], name: string): string | undefined {
  return attrs.find((a) => a.name === name)?.value;
}

export class BoshCoreLink extends EventEmitter implements CoreLink {
  readonly OPEN = OPEN_READY;
  readyState = OPEN_READY;
  isPaused = false;
  private bosh: BoshSession | null = null;
  private queued = 0;
  private error: { condition: string; bytes: Buffer; fromServer: boolean } | null = null;

  /** @param scale the core's high-water mark divided by --bosh-max-queued */
  constructor(private readonly scale: number) {
    super();
  }

  attach(bosh: BoshSession): void {
    this.bosh = bosh;
  }

  // ---------------------------------------------------------------- CoreLink: BOSH → core

  open(attrs: readonly Attribute[]): void {
    let xml = `<open xmlns='${NS_FRAMING}'`;
    for (const a of attrs) xml += ` ${a.name}='${escapeAttr(a.value)}'`;
    this.toCore(Buffer.from(`${xml}/>`));
  }

  element(bytes: Buffer): void {
    this.toCore(bytes);
  }

  logout(): void {
    this.toCore(CLOSE_XML);
  }

  gone(): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    // What ws reports for a connection lost without a close frame: the core ends without a goodbye.
    process.nextTick(() => this.emit('close', 1006));
  }

  backlog(bytes: number): void {
    const before = this.queued;
    this.queued = bytes;
    if (bytes < before) this.emit('drain');
  }

  private toCore(bytes: Buffer): void {
    if (this.readyState === OPEN_READY) this.emit('message', bytes, false);
  }

  // ---------------------------------------------------------------- the WebSocket surface the core uses

  get bufferedAmount(): number {
    return this.queued * this.scale;
  }

  send(data: Buffer | string): void {
    const bosh = this.bosh;
    if (bosh === null || this.readyState !== OPEN_READY) return;
    if (typeof data === 'string') {
      // The core's own messages: <open/>, <close/>, or a stream error it generated.
      if (data.startsWith('<open')) {
        const attrs = openAttrs(data);
        bosh.opened(attr(attrs, 'from'), attr(attrs, 'id'));
      } else if (data.startsWith('<stream:error')) {
        this.noteError(Buffer.from(data), false);
      }
      return;
    }
    if (data.subarray(0, STREAM_ERROR.length).equals(STREAM_ERROR)) {
      this.noteError(data, true);
      return;
    }
    bosh.deliver(data);
  }

  private noteError(bytes: Buffer, fromServer: boolean): void {
    const condition = streamErrorConditionOf({ bytes, nameEnd: STREAM_ERROR.length } as Pick<ElementToken, 'bytes' | 'nameEnd'>);
    this.error = { condition, bytes, fromServer };
  }

  close(code?: number): void {
    this.end(code ?? 1000);
  }

  terminate(): void {
    this.end(1006);
  }

  private end(code: number): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    const e = this.error;
    if (e === null) this.bosh?.ended(null);
    else {
      const { condition, withError } = boshConditionOf(e.condition, e.fromServer);
      this.bosh?.ended(condition, withError ? [e.bytes] : []);
    }
    process.nextTick(() => this.emit('close', code));
  }

  ping(): void {
    // BOSH liveness is the inactivity timer; the core's keepalive always sees an answer.
    this.emit('pong');
  }

  pause(): void {
    this.isPaused = true;
    this.bosh?.setCorePaused(true);
  }

  resume(): void {
    this.isPaused = false;
    this.bosh?.setCorePaused(false);
  }

  cork(): void {}
  uncork(): void {}
}
