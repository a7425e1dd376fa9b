/**
 * The older XMPP-over-WebSocket framing some load-testing tools still speak (Tsung's websocket
 * transport, draft-moffitt-xmpp-over-websocket-00): the client sends a classic `<stream:stream …>`
 * start tag as one message and `</stream:stream>` as another, and expects the server's stream bytes
 * back as they are. Detected from the first message when `--legacy-framing auto`; such a session is
 * relayed without the RFC 7395 rewrite.
 */
import { XmlTokenizer } from '../../xml/tokenizer';
import type { Attribute, TokenizerLimits } from '../../xml/tokens';
import { NS_CLIENT, NS_STREAMS } from '../../xmpp/namespaces';
import { escapeAttr } from '../../xml/escape';
import { namespaceOf } from '../../xml/standalone';

export type LegacyMessage =
  | { readonly kind: 'header'; readonly attrs: readonly Attribute[] }
  | { readonly kind: 'footer' }
  /** Not a legacy header or footer: an ordinary message, for the fragment tokenizer. */
  | { readonly kind: 'other' }
  | { readonly kind: 'invalid'; readonly condition: 'not-well-formed' | 'invalid-namespace' | 'restricted-xml' | 'policy-violation'; readonly text: string };

const FOOTER = /^\s*<\/([A-Za-z_][\w.-]*:)?stream\s*>\s*$/;
/** `<stream:stream`, optionally after an XML declaration and whitespace; cheap pre-check before tokenizing. */
const HEADER_START = /^\s*(<\?xml[^>]*\?>\s*)?<([A-Za-z_][\w.-]*:)?stream[\s>]/;

/** Classifies a client message as a legacy stream header, footer, or neither. Pure. */
export function classifyLegacyMessage(data: Buffer, limits: Partial<TokenizerLimits> = {}): LegacyMessage {
  // Only the first bytes are needed to decide; headers and footers are short.
  const head = data.toString('latin1', 0, Math.min(data.length, 512));
  if (FOOTER.test(head) && data.length <= 512) return { kind: 'footer' };
  if (!HEADER_START.test(head)) return { kind: 'other' };
  const tokenizer = new XmlTokenizer('stream', limits);
  const { tokens, error } = tokenizer.feed(data);
  if (error !== null) return { kind: 'invalid', condition: error.condition === 'bad-format' ? 'not-well-formed' : error.condition, text: error.text };
  const [first, ...rest] = tokens;
  // `<stream:stream …/>`, opened and closed at once, is no legacy header: leave it to RFC 7395
  // classification, which refuses it as invalid-namespace.
  if (first?.kind === 'stream-open' && rest.length === 1 && rest[0]!.kind === 'stream-close') return { kind: 'other' };
  if (first === undefined || first.kind !== 'stream-open' || rest.length > 0 || tokenizer.bufferedBytes > 0) {
    return { kind: 'invalid', condition: 'not-well-formed', text: 'a legacy stream header message must hold exactly one <stream:stream> start tag' };
  }
  if (namespaceOf(first, null) !== NS_STREAMS) return { kind: 'invalid', condition: 'invalid-namespace', text: `<${first.name}> must be in ${NS_STREAMS}` };
  return { kind: 'header', attrs: first.attrs };
}

/** The footer a legacy client expects instead of `<close/>`. */
export const LEGACY_FOOTER = '</stream:stream>';

/** A stream header the gateway writes itself to a legacy client (before a stream error, RFC 6120 §4.9.1.2). */
export function legacyStreamHeader(from: string | undefined): string {
  const fromAttr = from === undefined ? '' : ` from='${escapeAttr(from)}'`;
  return `<?xml version='1.0'?><stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAMS}'${fromAttr} version='1.0'>`;
}
