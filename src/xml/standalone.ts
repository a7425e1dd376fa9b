/**
 * Namespaces in scope on a classic stream (RFC 6120 §4.8) and making one of its elements stand
 * alone: what every client transport that sends elements one by one needs (RFC 7395 §3.3.3 for
 * WebSocket messages, XEP-0206 §5 for BOSH `<body/>` children). Pure functions.
 */
import { escapeAttr } from './escape';
import type { Attribute, ElementToken, StreamOpenToken } from './tokens';
import { NS_CLIENT } from '../xmpp/namespaces';

/** In-scope namespace declarations of a stream header: prefix (`''` = default) → URI. */
export type NamespaceScope = ReadonlyMap<string, string>;

/**
 * The scope most recently built. A server declares the same namespaces on every stream it opens, so
 * sessions share this one map instead of each holding a copy for its lifetime (with the header's
 * decoded text, which the map's values are slices of).
 */
let lastScope: Map<string, string> | null = null;

/** The declarations on a stream header; the default namespace is `jabber:client` when it declares none. */
export function namespaceScope(header: Pick<StreamOpenToken, 'attrs'>): NamespaceScope {
  const scope = new Map<string, string>();
  for (const { name, value } of header.attrs) {
    if (name === 'xmlns') scope.set('', value);
    else if (name.startsWith('xmlns:')) scope.set(name.slice(6), value);
  }
  if (!scope.has('')) scope.set('', NS_CLIENT);
  if (lastScope !== null && sameScope(lastScope, scope)) return lastScope;
  lastScope = scope;
  return scope;
}

function sameScope(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [prefix, uri] of a) if (b.get(prefix) !== uri) return false;
  return true;
}

/**
 * Makes a server element parse standalone: declares, right after the element name, each namespace
 * it inherits from the stream header, e.g. `xmlns="jabber:client"` on stanzas and `xmlns:stream` on
 * `<stream:features/>`. `bytes` may replace the element's own bytes when only content after the
 * start tag changed (the features rewrite), so offsets stay valid. Returns the given Buffer itself
 * when nothing is missing (the common case for stanzas with their own xmlns).
 * Returns null when the element uses a prefix the header never declared (not namespace-well-formed).
 */
export function toStandaloneElement(el: ElementToken, scope: NamespaceScope, bytes: Buffer = el.bytes): Buffer | null {
  if (el.outerPrefixes.length === 0) return bytes;
  let decls = '';
  for (const prefix of el.outerPrefixes) {
    const uri = scope.get(prefix);
    if (uri === undefined) return null;
    decls += prefix === '' ? ` xmlns="${escapeAttr(uri)}"` : ` xmlns:${prefix}="${escapeAttr(uri)}"`;
  }
  const insert = Buffer.from(decls, 'utf8');
  const out = Buffer.allocUnsafe(bytes.length + insert.length);
  bytes.copy(out, 0, 0, el.nameEnd);
  insert.copy(out, el.nameEnd);
  bytes.copy(out, el.nameEnd + insert.length, el.nameEnd);
  return out;
}

/** The namespace URI of a qualified name, looking first at the element's own declarations, then at `scope`. */
export function namespaceOf(el: Pick<ElementToken, 'name' | 'attrs'>, scope: NamespaceScope | null): string | undefined {
  const colon = el.name.indexOf(':');
  const decl = colon < 0 ? 'xmlns' : `xmlns:${el.name.slice(0, colon)}`;
  for (const a of el.attrs) if (a.name === decl) return a.value;
  return scope?.get(colon < 0 ? '' : el.name.slice(0, colon));
}

/** The local part of a qualified name (`stream:features` → `features`). */
export function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/**
 * `scope` with the namespace declarations of `attrs` (an element's own) on top; `scope` itself when
 * the element declares none (the usual case), so nothing is copied.
 */
export function extendScope(scope: NamespaceScope, attrs: readonly Attribute[]): NamespaceScope {
  let out: Map<string, string> | null = null;
  for (const { name, value } of attrs) {
    if (name !== 'xmlns' && !name.startsWith('xmlns:')) continue;
    out ??= new Map(scope);
    out.set(name === 'xmlns' ? '' : name.slice(6), value);
  }
  return out ?? scope;
}
