/**
 * The BOSH client transport (XEP-0124 / XEP-0206) for the session core (../../session/transport.ts):
 * the session's elements are queued in the BOSH session (./bosh-session.ts) for the next HTTP
 * response, and requests' payloads become the session's opens, elements and closes. Beside the
 * WebSocket transport, this is the only difference between a BOSH and a WebSocket session.
 */
import type { ClientGoodbye } from '../../session/goodbye';
import type { ClientTransport, SessionInput } from '../../session/transport';
import { getAttr } from '../../xml/attributes';
import { localName } from '../../xml/standalone';
import type { Attribute, ElementToken, StreamOpenToken } from '../../xml/tokens';
import { streamErrorXml } from '../../xmpp/stream-error';
import type { BoshSession, CoreLink } from './bosh-session';
import { boshConditionOf } from './conditions';

/** The qualified name at the start of an element's bytes (`<stream:error …` → `stream:error`). */
function topName(bytes: Buffer): string {
  let end = 1;
  while (end < bytes.length && end < 64) {
    const b = bytes[end]!;
    if (b === 0x20 || b === 0x3e || b === 0x2f || b === 0x09 || b === 0x0a || b === 0x0d) break;
    end++;
  }
  return bytes.toString('latin1', 1, end);
}

export class BoshTransport implements ClientTransport, CoreLink {
  session!: SessionInput;
  readonly framing = 'bosh';
  readonly standaloneElements = true;
  /** BOSH liveness is the inactivity timer (./bosh-session.ts), not a ping. */
  readonly alive = true;
  bytesToClient = 0;
  private bosh: BoshSession | null = null;
  private queued = 0;
  /** The server's `<stream:error/>`, kept out of the queue: it goes into the terminate body (XEP-0206 §6). */
  private serverError: Buffer | null = null;
  private goneReported = false;

  /** @param maxQueued --bosh-max-queued: above it the core stops reading the server */
  constructor(private readonly maxQueued: number) {}

  attach(session: SessionInput): void {
    this.session = session;
  }

  /** Wires the BOSH session; called before it sends anything. */
  bind(bosh: BoshSession): void {
    this.bosh = bosh;
  }

  // ---------------------------------------------------------------- CoreLink: BOSH session → core

  private guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.session.crashed(err, where);
    }
  }

  received(bytes: number): number {
    return this.session.clientBytes(bytes);
  }

  consumed(bytes: number): void {
    this.guard('BOSH request', () => this.session.clientConsumed(bytes));
  }

  open(attrs: readonly Attribute[]): void {
    this.guard('BOSH open', () => this.session.clientOpen(attrs));
  }

  element(el: ElementToken, receivedAt: number): void {
    this.guard('BOSH element', () => {
      if (this.session.acceptsClientData) this.session.clientElement(el, receivedAt);
    });
  }

  logout(): void {
    this.guard('BOSH terminate', () => this.session.clientClose());
  }

  gone(detail: string): void {
    if (this.goneReported) return;
    this.goneReported = true;
    this.guard('BOSH session end', () => this.session.clientGone(detail));
  }

  backlog(bytes: number): void {
    const before = this.queued;
    this.queued = bytes;
    if (bytes < before && bytes <= this.maxQueued / 2) this.guard('BOSH drain', () => this.session.clientDrained());
  }

  // ---------------------------------------------------------------- ClientTransport: core → client

  serverOpen(header: StreamOpenToken): void {
    this.bosh?.opened(getAttr(header.attrs, 'from'), getAttr(header.attrs, 'id'));
  }

  serverElement(bytes: Buffer): void {
    // A top-level <error/> on a c2s stream can only be the stream error (RFC 6120 §4.9).
    if (localName(topName(bytes)) === 'error') {
      this.serverError = bytes;
      return;
    }
    this.bosh?.deliver(bytes);
  }

  /** Elements of one server read already leave together: the BOSH session flushes once per tick. */
  cork(): void {}
  uncork(): void {}

  get congested(): boolean {
    return this.queued > this.maxQueued;
  }

  pauseIntake(): void {
    this.bosh?.setCorePaused(true);
  }

  resumeIntake(): void {
    this.bosh?.setCorePaused(false);
  }

  ping(): void {}

  /**
   * The goodbye in BOSH terms: `<body type='terminate'/>` with the terminal condition (XEP-0124
   * §17.2). A stream error the gateway raises maps to its BOSH twin or travels inside a
   * remote-stream-error body, as one from the server does (XEP-0206 §6). A redirect (--redirect-uri)
   * is a wss:// URI no BOSH client can follow, so BOSH clients get system-shutdown instead.
   */
  goodbye(plan: ClientGoodbye): void {
    const bosh = this.bosh;
    if (bosh === null) return;
    if (this.serverError !== null) {
      bosh.ended('remote-stream-error', [this.serverError]);
      return;
    }
    switch (plan.kind) {
      case 'drop':
        bosh.ended(null);
        return;
      case 'close-code':
        bosh.ended('undefined-condition');
        return;
      case 'end-stream': {
        if (plan.streamError === null) {
          bosh.ended(plan.seeOtherUri !== null ? 'system-shutdown' : null);
          return;
        }
        const { condition, withError } = boshConditionOf(plan.streamError.condition, false);
        bosh.ended(condition, withError ? [Buffer.from(streamErrorXml(plan.streamError.condition, plan.streamError.text, true))] : []);
        return;
      }
    }
  }

  /** Counts what the BOSH session wrote to the client. */
  sent(bytes: number): void {
    this.bytesToClient += bytes;
  }

  destroy(): void {
    this.bosh?.destroy();
  }
}
