/**
 * RFC 7395 framing, the pure half: what a client message's elements are, and the framed edges of the
 * stream (`<open/>`, `<close/>`) the gateway writes to the client. No I/O, no state: ./framing.ts
 * puts these behind the Framing interface it shares with the legacy framing.
 *
 * Everything between the edges passes through byte for byte; only the edges are rewritten, and only
 * by tokens (never by substring replacement on the XML).
 */
import type { Attribute, ElementToken, StreamOpenToken } from '../../xml/tokens';
import { escapeAttr } from '../../xml/escape';
import { getAttr } from '../../xml/attributes';
import { copyAttrs } from '../../xmpp/stream';
import { NS_FRAMING } from '../../xmpp/namespaces';

/** RFC 7395 §3.4: the stream attributes carried from the server's header to `<open/>`. */
const SERVER_TO_CLIENT_ATTRS = ['from', 'id', 'version', 'xml:lang'] as const;

/** What one top-level element of a client message is. */
export type ClientElement =
  | { readonly kind: 'open'; readonly attrs: readonly Attribute[] }
  | { readonly kind: 'close' }
  | { readonly kind: 'stanza' }
  /** `<open>`/`<close>` in another namespace, or a classic `<stream:stream>`: RFC 7395 §3.3.1 → invalid-namespace. */
  | { readonly kind: 'bad-framing'; readonly detail: string };

const STANZA: ClientElement = Object.freeze({ kind: 'stanza' });
const CLOSE: ClientElement = Object.freeze({ kind: 'close' });

/** Classifies one complete top-level element from the client (RFC 7395 §3.3.1, §3.4, §3.6). */
export function classifyClientElement(el: ElementToken): ClientElement {
  if (el.name === 'open' || el.name === 'close') {
    const ns = getAttr(el.attrs, 'xmlns');
    if (ns !== NS_FRAMING) {
      return { kind: 'bad-framing', detail: `<${el.name}/> must be in namespace ${NS_FRAMING}, got ${ns === undefined ? 'none' : JSON.stringify(ns)}` };
    }
    return el.name === 'open' ? { kind: 'open', attrs: el.attrs } : CLOSE;
  }
  if (el.name.endsWith(':stream') || el.name === 'stream') {
    return { kind: 'bad-framing', detail: 'a <stream:stream> header is not RFC 7395 framing; send <open/>' };
  }
  return STANZA;
}

/** The server's stream header → `<open/>` for the client (RFC 7395 §3.4). */
export function openFromStreamHeader(header: StreamOpenToken): string {
  return openElement(header.attrs);
}

/** An `<open/>` with the §4.7 attributes the server side sets; also the one the gateway writes itself (RFC 6120 §4.9.1.2). */
export function openElement(attrs: readonly Attribute[]): string {
  return `<open xmlns="${NS_FRAMING}"${copyAttrs(attrs, SERVER_TO_CLIENT_ATTRS, '"')}/>`;
}

/** RFC 7395 §3.6: the framed end of stream, optionally redirecting the client (§3.6.1). */
export function closeElement(seeOtherUri?: string): string {
  return seeOtherUri === undefined
    ? `<close xmlns="${NS_FRAMING}"/>`
    : `<close xmlns="${NS_FRAMING}" see-other-uri="${escapeAttr(seeOtherUri)}"/>`;
}
