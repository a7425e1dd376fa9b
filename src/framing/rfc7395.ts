/**
 * Pure translation between RFC 7395 framing (WebSocket side) and the RFC 6120 classic stream
 * (TCP side). No I/O, no state: the session (../session/session.ts) decides when to call what.
 *
 * Everything between the stream header and footer passes through byte for byte; only the edges
 * are rewritten, and only by tokens (never by substring replacement on the XML).
 */
import type { Attribute, ElementToken, StreamOpenToken } from '../xml/tokens';
import { escapeAttr } from '../xml/escape';
import { NS_CLIENT, NS_FRAMING, NS_STREAMS } from '../xmpp/namespaces';

/** RFC 6120 §4.7: the stream attributes carried from `<open/>` to the stream header and back. */
const CLIENT_TO_SERVER_ATTRS = ['to', 'from', 'version', 'xml:lang'] as const;
const SERVER_TO_CLIENT_ATTRS = ['from', 'id', 'version', 'xml:lang'] as const;

/** What one top-level element of a client message is. */
export type ClientElement =
  | { readonly kind: 'open'; readonly attrs: readonly Attribute[] }
  | { readonly kind: 'close' }
  | { readonly kind: 'stanza' }
  /** `<open>`/`<close>` in another namespace, or a classic `<stream:stream>`: RFC 7395 §3.3.1 → invalid-namespace. */
  | { readonly kind: 'bad-framing'; readonly detail: string };

export function getAttr(attrs: readonly Attribute[], name: string): string | undefined {
  for (const a of attrs) if (a.name === name) return a.value;
  return undefined;
}

/** Classifies one complete top-level element from the client (RFC 7395 §3.3.1, §3.4, §3.6). */
export function classifyClientElement(el: ElementToken): ClientElement {
  if (el.name === 'open' || el.name === 'close') {
    const ns = getAttr(el.attrs, 'xmlns');
    if (ns !== NS_FRAMING) {
      return { kind: 'bad-framing', detail: `<${el.name}/> must be in namespace ${NS_FRAMING}, got ${ns === undefined ? 'none' : JSON.stringify(ns)}` };
    }
    return el.name === 'open' ? { kind: 'open', attrs: el.attrs } : { kind: 'close' };
  }
  if (el.name.endsWith(':stream') || el.name === 'stream') {
    return { kind: 'bad-framing', detail: 'a <stream:stream> header is not RFC 7395 framing; send <open/>' };
  }
  return { kind: 'stanza' };
}

function copyAttrs(attrs: readonly Attribute[], names: readonly string[], quote: "'" | '"'): string {
  let out = '';
  for (const name of names) {
    const value = getAttr(attrs, name);
    if (value !== undefined) out += ` ${name}=${quote}${escapeAttr(value)}${quote}`;
  }
  return out;
}

/**
 * `<open/>` → the classic stream header (RFC 6120 §4.7). Only the §4.7 attributes are copied, with
 * their values re-escaped, so nothing else the client wrote reaches the server's stream header.
 */
export function streamHeaderFromOpen(openAttrs: readonly Attribute[]): string {
  return `<?xml version='1.0'?><stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAMS}'${copyAttrs(openAttrs, CLIENT_TO_SERVER_ATTRS, "'")}>`;
}

/** RFC 6120 §4.4: the stream footer sent upstream for a client `<close/>`. */
export const STREAM_FOOTER = '</stream:stream>';

/** The server's stream header → `<open/>` for the client (RFC 7395 §3.4). */
export function openFromStreamHeader(header: StreamOpenToken): string {
  return openElement(header.attrs);
}

/** An `<open/>` the gateway writes itself, e.g. before a stream error when the server never answered (RFC 6120 §4.9.1.2). */
export function openElement(attrs: readonly Attribute[]): string {
  return `<open xmlns="${NS_FRAMING}"${copyAttrs(attrs, SERVER_TO_CLIENT_ATTRS, '"')}/>`;
}

/** RFC 7395 §3.6: the framed end of stream, optionally redirecting the client (§3.6.1). */
export function closeElement(seeOtherUri?: string): string {
  return seeOtherUri === undefined
    ? `<close xmlns="${NS_FRAMING}"/>`
    : `<close xmlns="${NS_FRAMING}" see-other-uri="${escapeAttr(seeOtherUri)}"/>`;
}

/** In-scope namespace declarations of a stream header: prefix (`''` = default) → URI. */
export type NamespaceScope = ReadonlyMap<string, string>;

export function namespaceScope(header: StreamOpenToken): NamespaceScope {
  const scope = new Map<string, string>();
  for (const { name, value } of header.attrs) {
    if (name === 'xmlns') scope.set('', value);
    else if (name.startsWith('xmlns:')) scope.set(name.slice(6), value);
  }
  if (!scope.has('')) scope.set('', NS_CLIENT);
  return scope;
}

/**
 * Makes a server element parse standalone in its own WebSocket message (RFC 7395 §3.3.3): declares,
 * right after the element name, each namespace it inherits from the stream header, e.g.
 * `xmlns="jabber:client"` on stanzas and `xmlns:stream` on `<stream:features/>`.
 * `bytes` may replace the element's own bytes when only content after the start tag changed (the
 * features rewrite), so offsets stay valid. Returns the given Buffer itself when nothing is missing
 * (the common case for stanzas with their own xmlns).
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
