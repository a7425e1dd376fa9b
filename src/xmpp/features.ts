/**
 * Rewriting the server's `<stream:features/>` (RFC 6120 §4.3.2) before the client sees it.
 *
 * The gateway speaks plaintext TCP upstream in this version, and STARTTLS makes no sense over
 * WebSocket anyway (RFC 7395 §3.9: TLS is the WebSocket's business), so `<starttls/>` never
 * reaches the client. When the server marks it `<required/>` the session cannot go on.
 *
 * Features arrive once or twice per session, so a second, small tokenizer pass over the children is
 * cheap and keeps the rewrite token-based. No DOM is built.
 */
import { XmlTokenizer } from '../xml/tokenizer';
import type { ElementToken } from '../xml/tokens';
import { getAttr } from '../framing/rfc7395';
import { NS_TLS } from './namespaces';

export type FeaturesRewrite =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'rewritten'; readonly bytes: Buffer }
  | { readonly kind: 'starttls-required' };

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QUOT = 0x22;
const APOS = 0x27;

/** Offset just after the `>` that ends the start tag beginning at `from`, quote-aware (`>` may appear in values). */
function startTagEnd(bytes: Buffer, from: number): number {
  let quote = 0;
  for (let i = from; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (quote !== 0) {
      if (b === quote) quote = 0;
    } else if (b === QUOT || b === APOS) {
      quote = b;
    } else if (b === GT) {
      return i + 1;
    }
  }
  return -1;
}

interface Child {
  readonly token: ElementToken;
  /** Offsets of the child inside the parent's bytes (whitespace between children is kept as is). */
  readonly start: number;
  readonly end: number;
}

/**
 * The direct children of an element the tokenizer already accepted, with their offsets in `el.bytes`.
 * Returns null for a self-closing element, or if the content cannot be split (e.g. a child relies on a
 * prefix declared further out); callers then leave the element alone.
 */
function childrenOf(bytes: Buffer, nameEnd: number): { children: Child[]; contentStart: number; contentEnd: number } | null {
  const contentStart = startTagEnd(bytes, nameEnd);
  if (contentStart < 0 || bytes[contentStart - 2] === SLASH) return null;
  const contentEnd = bytes.lastIndexOf(LT);
  if (contentEnd < contentStart) return null;
  const content = bytes.subarray(contentStart, contentEnd);
  const tokenizer = new XmlTokenizer('fragment', { maxElementBytes: bytes.length + 1 });
  const { tokens, error } = tokenizer.feed(content);
  if (error !== null || tokenizer.end() !== null) return null;
  const children: Child[] = [];
  let searchFrom = 0;
  for (const token of tokens) {
    if (token.kind !== 'element') return null;
    // Elements are emitted in order and are exact byte copies, so each is found right after the previous one.
    const at = content.indexOf(token.bytes, searchFrom);
    if (at < 0) return null;
    children.push({ token, start: contentStart + at, end: contentStart + at + token.bytes.length });
    searchFrom = at + token.bytes.length;
  }
  return { children, contentStart, contentEnd };
}

function isStartTls(child: Child): boolean {
  return child.token.name === 'starttls' && getAttr(child.token.attrs, 'xmlns') === NS_TLS;
}

/** Drops `<starttls/>` from a features element; reports when the server made it mandatory. */
export function rewriteFeatures(features: ElementToken): FeaturesRewrite {
  const parsed = childrenOf(features.bytes, features.nameEnd);
  if (parsed === null) return { kind: 'unchanged' };
  const starttls = parsed.children.find(isStartTls);
  if (starttls === undefined) return { kind: 'unchanged' };
  const inner = childrenOf(starttls.token.bytes, starttls.token.nameEnd);
  if (inner !== null && inner.children.some((c) => c.token.name === 'required')) {
    return { kind: 'starttls-required' };
  }
  const bytes = Buffer.concat([features.bytes.subarray(0, starttls.start), features.bytes.subarray(starttls.end)]);
  return { kind: 'rewritten', bytes };
}
