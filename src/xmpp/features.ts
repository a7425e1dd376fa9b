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
import { NS_TLS } from './namespaces';

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
  const inFeatures = extendScope(scope, features.attrs);
  const starttls = childrenOf(features)?.find((c) => isElement(c, 'starttls', NS_TLS, inFeatures));
  if (starttls === undefined) return UNCHANGED;
  const inStarttls = extendScope(inFeatures, starttls.token.attrs);
  if (childrenOf(starttls.token)?.some((c) => isElement(c, 'required', NS_TLS, inStarttls))) return REQUIRED;
  const bytes = Buffer.concat([features.bytes.subarray(0, starttls.start), features.bytes.subarray(starttls.end)]);
  return { kind: 'rewritten', bytes };
}
