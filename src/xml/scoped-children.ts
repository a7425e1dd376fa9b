/**
 * The direct children of an element with their namespaces resolved, whatever prefixes the server
 * chose and wherever it declared them (on the stream header, the parent, or the child itself) —
 * for `<stream:features/>`, where a `<tls:starttls>` whose prefix sits on the stream header must be
 * recognised as surely as `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>` (RFC 6120 §4.3.2,
 * Namespaces in XML 1.0 §6).
 *
 * How: the element is made standalone (every inherited declaration copied onto it, see
 * ./standalone.ts), then run through a stream-mode tokenizer, which treats it as a document
 * root: its start tag becomes the scope, its children the depth-1 elements. Same well-formedness
 * rules as everywhere else; no DOM.
 */
import { XmlTokenizer } from './tokenizer';
import type { ElementToken } from './tokens';
import { getAttr } from './attributes';
import { namespaceScope, toStandaloneElement, type NamespaceScope } from './standalone';

export interface ScopedChild {
  readonly token: ElementToken;
  /** Local name, without prefix. */
  readonly local: string;
  /** Namespace URI, or undefined when none is in scope. */
  readonly ns: string | undefined;
  /** The scope the child's own children see (for a recursive call). */
  readonly scope: NamespaceScope;
  /** Offsets of the child inside the given `bytes` (so callers can cut it out). */
  readonly start: number;
  readonly end: number;
}

/**
 * Children of `el` (whose bytes may be replaced by `bytes` when only content after the start tag
 * changed), or null when `el` cannot be read on its own (a prefix nobody declared).
 */
export function scopedChildren(el: ElementToken, scope: NamespaceScope, bytes: Buffer = el.bytes): ScopedChild[] | null {
  const standalone = toStandaloneElement(el, scope, bytes);
  if (standalone === null) return null;
  // `<x/>` has no children (and a stream-mode tokenizer would wait for its end tag forever).
  if (standalone[standalone.length - 2] === 0x2f) return [];
  const shift = standalone.length - bytes.length;
  const tokenizer = new XmlTokenizer('stream', { maxElementBytes: standalone.length + 1 });
  const { tokens, error } = tokenizer.feed(standalone);
  if (error !== null) return null;
  const open = tokens[0];
  if (open === undefined || open.kind !== 'stream-open') return null;
  const inner = new Map(namespaceScope(open));
  // namespaceScope defaults '' to jabber:client for stream headers; here only what is declared counts.
  if (getAttr(open.attrs, 'xmlns') === undefined) {
    if (scope.has('')) inner.set('', scope.get('')!);
    else inner.delete('');
  }
  const children: ScopedChild[] = [];
  let searchFrom = 0;
  for (const token of tokens.slice(1)) {
    if (token.kind !== 'element') continue;
    const colon = token.name.indexOf(':');
    const prefix = colon < 0 ? '' : token.name.slice(0, colon);
    const own = getAttr(token.attrs, prefix === '' ? 'xmlns' : `xmlns:${prefix}`);
    const at = standalone.indexOf(token.bytes, searchFrom);
    if (at < 0) return null;
    searchFrom = at + token.bytes.length;
    children.push({
      token,
      local: token.name.slice(colon + 1),
      ns: own ?? inner.get(prefix),
      scope: inner,
      start: at - shift,
      end: at - shift + token.bytes.length,
    });
  }
  return children;
}
