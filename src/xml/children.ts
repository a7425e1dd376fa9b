/**
 * The direct children of an element the tokenizer already accepted, with their byte offsets — for
 * the rare places that must look inside an element (`<stream:features/>`, `<stream:error/>`), without
 * building a DOM. A second tokenizer pass over the content does the work, so the same
 * well-formedness rules apply. The pass runs in stream mode under a synthetic root, so children may
 * use prefixes declared further out (on the parent or the stream header): they come back in each
 * child's `outerPrefixes`, to be resolved against the caller's scope (../xml/standalone.ts).
 */
import { XmlTokenizer } from './tokenizer';
import type { ElementToken } from './tokens';

export interface Child {
  readonly token: ElementToken;
  /** Offsets of the child inside the parent's bytes (whitespace between children stays where it is). */
  readonly start: number;
  readonly end: number;
}

/** A root without declarations: every prefix the children inherit stays unresolved, not an error. */
const SYNTHETIC_ROOT = Buffer.from('<r>');
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

/**
 * Children of `el`, or null for a self-closing element, or when the content cannot be split on its
 * own (e.g. a child relies on a namespace prefix declared further out); callers then leave the
 * element alone.
 */
export function childrenOf(el: Pick<ElementToken, 'bytes' | 'nameEnd'>): Child[] | null {
  const { bytes } = el;
  const contentStart = startTagEnd(bytes, el.nameEnd);
  if (contentStart < 0 || bytes[contentStart - 2] === SLASH) return null;
  const contentEnd = bytes.lastIndexOf(LT);
  if (contentEnd < contentStart) return null;
  const content = bytes.subarray(contentStart, contentEnd);
  const tokenizer = new XmlTokenizer('stream', { maxElementBytes: bytes.length + SYNTHETIC_ROOT.length + 1 });
  const first = tokenizer.feed(SYNTHETIC_ROOT);
  if (first.error !== null) return null;
  const { tokens, error } = tokenizer.feed(content);
  // Content that leaves an element open is not a list of whole children.
  if (error !== null || tokenizer.bufferedBytes > 0) return null;
  const children: Child[] = [];
  let searchFrom = 0;
  for (const token of tokens) {
    if (token.kind !== 'element') return null;
    // Elements come in order and are exact byte copies, so each is found right after the previous one.
    const at = content.indexOf(token.bytes, searchFrom);
    if (at < 0) return null;
    children.push({ token, start: contentStart + at, end: contentStart + at + token.bytes.length });
    searchFrom = at + token.bytes.length;
  }
  return children;
}
