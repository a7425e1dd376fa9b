/**
 * The classic stream the gateway speaks to the XMPP server (RFC 6120 §4), whatever the client's
 * transport: the header written for a client's open (or restart) and the footer. Pure.
 */
import type { Attribute } from '../xml/tokens';
import { escapeAttr } from '../xml/escape';
import { getAttr } from '../xml/attributes';
import { NS_CLIENT, NS_STREAMS } from './namespaces';

/** RFC 6120 §4.7: the stream attributes a client may set on its stream header. */
export const CLIENT_STREAM_ATTRS = ['to', 'from', 'version', 'xml:lang'] as const;

/** Copies the named attributes, values re-escaped, as ` name='value'` pairs. */
export function copyAttrs(attrs: readonly Attribute[], names: readonly string[], quote: "'" | '"'): string {
  let out = '';
  for (const name of names) {
    const value = getAttr(attrs, name);
    if (value !== undefined) out += ` ${name}=${quote}${escapeAttr(value)}${quote}`;
  }
  return out;
}

/**
 * The client's stream attributes → the classic stream header (RFC 6120 §4.7). Only the §4.7
 * attributes are copied, with their values re-escaped, so nothing else the client wrote reaches the
 * server's stream header.
 */
export function streamHeaderFromOpen(openAttrs: readonly Attribute[]): string {
  return `<?xml version='1.0'?><stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAMS}'${copyAttrs(openAttrs, CLIENT_STREAM_ATTRS, "'")}>`;
}

/** RFC 6120 §4.4: the stream footer. */
export const STREAM_FOOTER = '</stream:stream>';
