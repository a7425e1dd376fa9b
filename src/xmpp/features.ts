/**
 * Rewriting the server's `<stream:features/>` (RFC 6120 §4.3.2) before the client sees it.
 *
 * STARTTLS makes no sense over WebSocket (RFC 7395 §3.9: TLS is the WebSocket's business) and the
 * gateway's hop to the server is the Dialer's business (../upstream/dialer.ts), so `<starttls/>`
 * never reaches the client. When the server marks it `<required/>` on a connection the Dialer left
 * in plaintext, the session cannot go on.
 *
 * Elements are recognised by namespace, not by how it was written: a prefix or default namespace
 * may be declared on the element, on `<stream:features/>`, or on the stream header (`scope`).
 */
import { childrenOf, type Child } from '../xml/children';
import { extendScope, localName, namespaceOf, type NamespaceScope } from '../xml/standalone';
import type { ElementToken } from '../xml/tokens';
import { scopedChildren } from '../xml/scoped-children';
import { NS_SASL, NS_SASL2, NS_SASL_CB, NS_TLS } from './namespaces';

export type FeaturesRewrite =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'rewritten'; readonly bytes: Buffer }
  | { readonly kind: 'starttls-required' };

const UNCHANGED: FeaturesRewrite = Object.freeze({ kind: 'unchanged' });
const REQUIRED: FeaturesRewrite = Object.freeze({ kind: 'starttls-required' });

/** Is `child` `<local/>` in `ns`, its namespace resolved in `scope` (the parent's)? */
function isElement(child: Child, local: string, ns: string, scope: NamespaceScope): boolean {
  return localName(child.token.name) === local && namespaceOf(child.token, scope) === ns;
}

/**
 * Drops `<starttls/>` from a features element; reports when the server made it mandatory. `scope`:
 * the namespaces of the server's stream header.
 */
export function rewriteFeatures(features: ElementToken, scope: NamespaceScope): FeaturesRewrite {
  // Names are never escaped in XML, so without these bytes there is no <starttls/> to look for: the
  // usual case (a TLS or plaintext stream after the gateway's own STARTTLS), decided without parsing.
  if (features.bytes.indexOf('starttls') < 0) return UNCHANGED;
  const inFeatures = extendScope(scope, features.attrs);
  const starttls = childrenOf(features)?.find((c) => isElement(c, 'starttls', NS_TLS, inFeatures));
  if (starttls === undefined) return UNCHANGED;
  const inStarttls = extendScope(inFeatures, starttls.token.attrs);
  if (childrenOf(starttls.token)?.some((c) => isElement(c, 'required', NS_TLS, inStarttls))) return REQUIRED;
  const bytes = Buffer.concat([features.bytes.subarray(0, starttls.start), features.bytes.subarray(starttls.end)]);
  return { kind: 'rewritten', bytes };
}

// ---------------------------------------------------------------- STARTTLS offer (gateway's own negotiation)

/** What the server's pre-TLS features say about STARTTLS (RFC 6120 §5.4.1), prefix-independent. */
export interface StartTlsOffer {
  readonly offered: boolean;
  /** `<required/>` inside `<starttls/>`. */
  readonly required: boolean;
}

/** Reads `<starttls/>` from features the server sent on the gateway's own pre-client stream. */
export function startTlsOffer(features: ElementToken, scope: NamespaceScope): StartTlsOffer {
  const starttls = scopedChildren(features, scope)?.find((c) => c.local === 'starttls' && c.ns === NS_TLS);
  if (starttls === undefined) return { offered: false, required: false };
  const required = scopedChildren(starttls.token, starttls.scope)?.some((c) => c.local === 'required' && c.ns === NS_TLS) ?? false;
  return { offered: true, required };
}

// ---------------------------------------------------------------- channel binding (never across the gateway)

const PLUS = /-PLUS$/i;
/** Necessary for anything to strip: a `-PLUS` mechanism name or XEP-0440's element name, in the raw bytes. */
const MAYBE_CHANNEL_BINDING = /-plus|sasl-channel-binding/i;

function textOf(el: ElementToken): string {
  const open = el.bytes.indexOf(0x3e, el.nameEnd);
  const close = el.bytes.lastIndexOf(0x3c);
  if (open < 0 || close <= open) return '';
  return el.bytes.toString('utf8', open + 1, close).trim();
}

/** Cuts `[start, end)` ranges (sorted, disjoint) out of `bytes`. */
function cut(bytes: Buffer, ranges: readonly { start: number; end: number }[]): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (const r of ranges) {
    parts.push(bytes.subarray(from, r.start));
    from = r.end;
  }
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts);
}

/**
 * Removes what only works when the client's TLS is the server's TLS: `SCRAM-*-PLUS` mechanisms (RFC
 * 5802 §6 channel binding, in `<mechanisms/>` of RFC 6120 §6.4.1 and XEP-0388's `<authentication/>`)
 * and XEP-0440's `<sasl-channel-binding/>`. The client's TLS ends at the gateway (or in front of it),
 * so a client that bound to its own channel would fail with "invalid channel binding" (stanza 12
 * against ejabberd 23.01 does exactly that). Returns the new bytes (offsets before the start tag's
 * end unchanged), or null when there was nothing to remove.
 */
export function stripChannelBinding(features: ElementToken, scope: NamespaceScope, bytes: Buffer = features.bytes): Buffer | null {
  // Most features (any before SASL, and all over a plaintext upstream) have neither: no parse for them.
  if (!MAYBE_CHANNEL_BINDING.test(bytes.toString('latin1'))) return null;
  const children = scopedChildren(features, scope, bytes);
  if (children === null) return null;
  const drop: { start: number; end: number }[] = [];
  const replace: { start: number; end: number; bytes: Buffer }[] = [];
  for (const child of children) {
    if (child.local === 'sasl-channel-binding' && child.ns === NS_SASL_CB) {
      drop.push(child);
      continue;
    }
    const isList = (child.local === 'mechanisms' && child.ns === NS_SASL) || (child.local === 'authentication' && child.ns === NS_SASL2);
    if (!isList) continue;
    const mechanisms = scopedChildren(child.token, child.scope);
    if (mechanisms === null) continue;
    const plus = mechanisms.filter((m) => m.local === 'mechanism' && PLUS.test(textOf(m.token)));
    // XEP-0440 may also sit inside SASL2's <authentication/>.
    const cb = mechanisms.filter((m) => m.local === 'sasl-channel-binding' && m.ns === NS_SASL_CB);
    const gone = [...plus, ...cb].sort((a, b) => a.start - b.start);
    if (gone.length > 0) replace.push({ start: child.start, end: child.end, bytes: cut(child.token.bytes, gone) });
  }
  if (drop.length === 0 && replace.length === 0) return null;
  const edits = [...drop.map((d) => ({ ...d, bytes: Buffer.alloc(0) })), ...replace].sort((a, b) => a.start - b.start);
  const parts: Buffer[] = [];
  let from = 0;
  for (const e of edits) {
    parts.push(bytes.subarray(from, e.start), e.bytes);
    from = e.end;
  }
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- a client's <starttls/>

/** Is this client element `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` (never offered to it)? */
export function isClientStartTls(el: ElementToken): boolean {
  // A client element's namespace is declared on itself (RFC 7395 §3.3.3: each element stands alone).
  return localName(el.name) === 'starttls' && namespaceOf(el, null) === NS_TLS;
}

/** RFC 6120 §5.4.2.2: the answer to a STARTTLS the gateway cannot do; the stream is then closed. */
export const STARTTLS_FAILURE = `<failure xmlns='${NS_TLS}'/>`;
