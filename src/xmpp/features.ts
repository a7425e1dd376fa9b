/**
 * Rewriting the server's `<stream:features/>` (RFC 6120 §4.3.2) before the client sees it.
 *
 * The gateway speaks plaintext TCP upstream in this version, and STARTTLS makes no sense over
 * WebSocket anyway (RFC 7395 §3.9: TLS is the WebSocket's business), so `<starttls/>` never
 * reaches the client. When the server marks it `<required/>` the session cannot go on.
 */
import { childrenOf, type Child } from '../xml/children';
import type { ElementToken } from '../xml/tokens';
import { getAttr } from '../xml/attributes';
import { NS_TLS } from './namespaces';

export type FeaturesRewrite =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'rewritten'; readonly bytes: Buffer }
  | { readonly kind: 'starttls-required' };

function isStartTls(child: Child): boolean {
  return child.token.name === 'starttls' && getAttr(child.token.attrs, 'xmlns') === NS_TLS;
}

/** Drops `<starttls/>` from a features element; reports when the server made it mandatory. */
export function rewriteFeatures(features: ElementToken): FeaturesRewrite {
  const starttls = childrenOf(features)?.find(isStartTls);
  if (starttls === undefined) return { kind: 'unchanged' };
  if (childrenOf(starttls.token)?.some((c) => c.token.name === 'required')) return { kind: 'starttls-required' };
  const bytes = Buffer.concat([features.bytes.subarray(0, starttls.start), features.bytes.subarray(starttls.end)]);
  return { kind: 'rewritten', bytes };
}
