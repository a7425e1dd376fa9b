/**
 * The two framings a WebSocket client may speak, behind one interface (the xmpp.js "tiny transport"
 * idea: they differ only at the edges of the stream):
 *
 * - RFC 7395: each message holds whole elements; the stream edges are `<open/>` and `<close/>` in
 *   the framing namespace; each server element stands alone with its namespaces (§3.3.3).
 * - legacy (draft-moffitt-xmpp-over-websocket-00, Tsung): a `<stream:stream>` start tag and a
 *   `</stream:stream>` message are the edges; the server's stream bytes go back as they are.
 *
 * A framing is a stateless singleton: reading a message calls the session directly, and the first
 * message of a connection decides which framing the rest use (`detectingFraming`).
 */
import type { SessionInput } from '../../session/transport';
import type { MessageTokenizer } from '../../xml/message-tokenizer';
import type { StreamOpenToken, TokenizerLimits } from '../../xml/tokens';
import { clientXmlFailure, streamErrorXml, type StreamErrorCondition } from '../../xmpp/stream-error';
import { LEGACY_FOOTER, classifyLegacyMessage, legacyStreamHeader } from './legacy';
import { classifyClientElement, closeElement, openElement, openFromStreamHeader } from './rfc7395';

/** What a framing needs from its connection while reading a message. */
export interface FramingContext {
  readonly session: SessionInput;
  /** The gateway's shared tokenizer for whole client messages. */
  readonly messages: MessageTokenizer;
  /** The gateway's XML limits (a legacy stream header is held to the element size). */
  readonly xmlLimits: TokenizerLimits;
  /** Switches the connection to another framing (legacy detection). */
  useFraming(framing: Framing): void;
}

export interface Framing {
  /** The `framing` label of `xmppgw_sessions_total`. */
  readonly name: 'rfc7395' | 'legacy';
  /** Server elements must stand alone (RFC 7395 §3.3.3); false: the client parses one continuous stream. */
  readonly standaloneElements: boolean;
  /**
   * The server's stream header goes out in one message with the element after it (RFC 6120 §4.3.2:
   * the features). Legacy: Tsung takes each message as the answer to its latest request (ack="local"),
   * so a header alone would make it read the features as the answer to its next one.
   */
  readonly headerJoinsNext: boolean;
  /** One whole text message from the client → opens, elements and closes on the session. */
  readMessage(data: Buffer, receivedAt: number, ctx: FramingContext): void;
  /** The server's stream header as the client gets it. */
  open(header: StreamOpenToken): string | Buffer;
  /** A stream open the gateway writes itself, as if from the client's `domain` (RFC 6120 §4.9.1.2). */
  generatedOpen(domain: string | undefined): string;
  streamError(condition: StreamErrorCondition, text: string): string;
  /** The end of the stream; RFC 7395 can carry a redirect (§3.6.1). */
  close(seeOtherUri: string | null): string;
}

/** RFC 7395 messages: every element classified; the framing's own elements open and close. */
function readFramedMessage(data: Buffer, receivedAt: number, ctx: FramingContext): void {
  const { session } = ctx;
  // A message is accepted or rejected whole: nothing of a bad message goes upstream.
  const { tokens, error } = ctx.messages.tokenize(data);
  if (error !== null) {
    session.fail(clientXmlFailure(error.condition), error.text);
    return;
  }
  for (const token of tokens) {
    if (!session.acceptsClientData) return;
    if (token.kind !== 'element') continue;
    const kind = classifyClientElement(token);
    switch (kind.kind) {
      case 'stanza':
        session.clientElement(token, receivedAt);
        break;
      case 'open':
        session.clientOpen(kind.attrs);
        break;
      case 'close':
        session.clientClose();
        break;
      case 'bad-framing':
        session.fail('BAD_FRAMING_NAMESPACE', kind.detail);
        return;
    }
  }
}

export const RFC7395_FRAMING: Framing = Object.freeze({
  name: 'rfc7395',
  standaloneElements: true,
  headerJoinsNext: false,
  readMessage: readFramedMessage,
  open: openFromStreamHeader,
  generatedOpen(domain: string | undefined): string {
    return openElement(domain === undefined ? [{ name: 'version', value: '1.0' }] : [{ name: 'version', value: '1.0' }, { name: 'from', value: domain }]);
  },
  streamError: (condition: StreamErrorCondition, text: string) => streamErrorXml(condition, text, true),
  close: (seeOtherUri: string | null) => closeElement(seeOtherUri ?? undefined),
});

/**
 * Legacy messages: a header message opens (or restarts) the stream, a footer message closes it;
 * anything else is read as RFC 7395 would.
 */
function readLegacyMessage(data: Buffer, receivedAt: number, ctx: FramingContext): void {
  if (!readLegacyEdge(data, ctx, true)) readFramedMessage(data, receivedAt, ctx);
}

/** Handles a legacy header, footer or invalid header; returns false for any other message. */
function readLegacyEdge(data: Buffer, ctx: FramingContext, footerAllowed: boolean): boolean {
  const legacy = classifyLegacyMessage(data, ctx.xmlLimits);
  switch (legacy.kind) {
    case 'other':
      return false;
    case 'invalid':
      ctx.session.fail(clientXmlFailure(legacy.condition), legacy.text);
      return true;
    case 'footer':
      if (!footerAllowed) return false;
      ctx.session.clientClose();
      return true;
    case 'header':
      ctx.useFraming(LEGACY_FRAMING);
      ctx.session.clientOpen(legacy.attrs);
      return true;
  }
}

export const LEGACY_FRAMING: Framing = Object.freeze({
  name: 'legacy',
  standaloneElements: false,
  headerJoinsNext: true,
  readMessage: readLegacyMessage,
  open: (header: StreamOpenToken) => header.bytes,
  generatedOpen: legacyStreamHeader,
  streamError: (condition: StreamErrorCondition, text: string) => streamErrorXml(condition, text, false),
  close: () => LEGACY_FOOTER,
});

/** `--legacy-framing auto`: the first message decides; a `<stream:stream>` header means legacy. */
const DETECTING: Framing = Object.freeze({
  ...RFC7395_FRAMING,
  readMessage(data: Buffer, receivedAt: number, ctx: FramingContext): void {
    if (readLegacyEdge(data, ctx, false)) return;
    ctx.useFraming(RFC7395_FRAMING);
    readFramedMessage(data, receivedAt, ctx);
  },
});

/** `--legacy-framing off`: a first-message `<stream:stream>` header is refused as invalid-namespace. */
const STRICT: Framing = Object.freeze({
  ...RFC7395_FRAMING,
  readMessage(data: Buffer, receivedAt: number, ctx: FramingContext): void {
    const legacy = classifyLegacyMessage(data, ctx.xmlLimits);
    if (legacy.kind === 'header') {
      ctx.session.fail('BAD_FRAMING_NAMESPACE', 'a <stream:stream> header is not RFC 7395 framing; send <open/> (legacy framing is off)');
      return;
    }
    if (legacy.kind === 'invalid') {
      ctx.session.fail(clientXmlFailure(legacy.condition), legacy.text);
      return;
    }
    ctx.useFraming(RFC7395_FRAMING);
    readFramedMessage(data, receivedAt, ctx);
  },
});

/** The framing a new connection starts in. */
export function initialFraming(legacyFraming: 'auto' | 'off'): Framing {
  return legacyFraming === 'auto' ? DETECTING : STRICT;
}
