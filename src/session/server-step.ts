/**
 * One server token → what the client is sent, as a pure function: the transport-neutral half of the
 * server-to-client direction. The session core (./session.ts) feeds it each token of the server's
 * stream and acts on the answer; the client transport only renders it.
 *
 * The common case (a stanza to relay) answers with the bytes themselves, so relaying allocates
 * nothing beyond what the namespace fix-up needs.
 */
import type { ElementToken, Token } from '../xml/tokens';
import { localName, namespaceOf, namespaceScope, toStandaloneElement, type NamespaceScope } from '../xml/standalone';
import { rewriteFeatures, stripChannelBinding } from '../xmpp/features';
import { NS_SASL, NS_STREAMS } from '../xmpp/namespaces';
import { streamErrorConditionOf, type StreamErrorCondition } from '../xmpp/stream-error';

export type ServerStep =
  /** Relay these bytes to the client: nothing else happens (the hot path). */
  | Buffer
  /** The server opened (or reopened, after a restart) its stream: tell the client; later elements use `scope`. */
  | { readonly kind: 'open'; readonly scope: NamespaceScope }
  /** An element the session must notice as well as relay. */
  | {
      readonly kind: 'element';
      readonly bytes: Buffer;
      /** `<stream:error/>` from the server (RFC 6120 §4.9): the session ends as the server's doing. */
      readonly streamError: StreamErrorCondition | null;
      /** SASL `<success/>` (RFC 6120 §6.4.6): the client's next `<open/>` is a legitimate stream restart. */
      readonly saslSuccess: boolean;
    }
  /** `</stream:stream>`: the server ended its stream (RFC 6120 §4.4). */
  | { readonly kind: 'end' }
  /** Nothing the client can be given: the server is told `condition` and the session ends as UPSTREAM_BAD_XML. */
  | { readonly kind: 'bad-xml'; readonly condition: StreamErrorCondition; readonly text: string }
  /** `<starttls><required/></starttls>` reached the session: it cannot go on (UPSTREAM_REQUIRES_TLS). */
  | { readonly kind: 'requires-tls' };

const END: ServerStep = Object.freeze({ kind: 'end' });
const REQUIRES_TLS: ServerStep = Object.freeze({ kind: 'requires-tls' });

/**
 * `scope`: namespaces of the server's current stream header, null until it arrives. `standalone`:
 * elements must parse on their own (RFC 7395, BOSH) rather than inside a continuous stream (legacy
 * framing).
 */
export function serverStep(token: Token, scope: NamespaceScope | null, standalone: boolean): ServerStep {
  switch (token.kind) {
    case 'stream-open': {
      const scope = namespaceScope(token);
      if (localName(token.name) !== 'stream' || namespaceOf(token, scope) !== NS_STREAMS) {
        return { kind: 'bad-xml', condition: 'invalid-namespace', text: `server stream header <${token.name}> is not in ${NS_STREAMS}` };
      }
      return { kind: 'open', scope };
    }
    case 'stream-close':
      return END;
    case 'element':
      return elementStep(token, scope, standalone);
  }
}

function elementStep(el: ElementToken, scope: NamespaceScope | null, standalone: boolean): ServerStep {
  if (scope === null) return { kind: 'bad-xml', condition: 'not-well-formed', text: 'element before the stream header' };
  let bytes = el.bytes;
  let streamError: StreamErrorCondition | null = null;
  let saslSuccess = false;
  const local = localName(el.name);
  // Only a handful of names matter; the namespace is resolved only for those.
  if (local === 'features' && namespaceOf(el, scope) === NS_STREAMS) {
    const rewrite = rewriteFeatures(el, scope);
    if (rewrite.kind === 'starttls-required') return REQUIRES_TLS;
    if (rewrite.kind === 'rewritten') bytes = rewrite.bytes;
    // Channel binding cannot cross the gateway: no SCRAM-*-PLUS, no XEP-0440 list (see ../xmpp/features.ts).
    bytes = stripChannelBinding(el, scope, bytes) ?? bytes;
  } else if (local === 'error' && namespaceOf(el, scope) === NS_STREAMS) {
    streamError = streamErrorConditionOf(el, scope);
  } else if (local === 'success' && namespaceOf(el, scope) === NS_SASL) {
    saslSuccess = true;
  }
  // A continuous stream (legacy framing) gets elements as they are; everything else standalone.
  const out = standalone ? toStandaloneElement(el, scope, bytes) : bytes;
  if (out === null) return { kind: 'bad-xml', condition: 'not-well-formed', text: `server element <${el.name}> uses an undeclared namespace prefix` };
  if (streamError === null && !saslSuccess) return out;
  return { kind: 'element', bytes: out, streamError, saslSuccess };
}
