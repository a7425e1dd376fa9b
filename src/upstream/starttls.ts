/**
 * STARTTLS, negotiated by the gateway itself before the client sees anything (RFC 6120 §5.4):
 * the gateway opens a stream to the XMPP domain, reads the features, sends `<starttls/>`, waits for
 * `<proceed/>`, and hands the socket back for the TLS handshake. The client's own `<open/>` then
 * becomes the stream restart over TLS (§5.4.3.3), so the client only ever sees post-TLS features.
 * The server's bytes go through our own tokenizer in stream mode, with the stanza limit.
 */
import type * as net from 'node:net';
import { XmlTokenizer } from '../xml/tokenizer';
import type { ElementToken, Token } from '../xml/tokens';
import { localName, namespaceOf, namespaceScope, type NamespaceScope } from '../xml/standalone';
import { escapeAttr } from '../xml/escape';
import { startTlsOffer, type StartTlsOffer } from '../xmpp/features';
import { NS_CLIENT, NS_STREAMS, NS_TLS } from '../xmpp/namespaces';
import { streamErrorConditionOf } from '../xmpp/stream-error';

export type NegotiationOutcome =
  /** `<proceed/>` came: start TLS on the same socket now. */
  | { readonly kind: 'proceed' }
  /** The features hold no `<starttls/>`; the gateway's stream is still open. */
  | { readonly kind: 'not-offered' }
  /** The server refused (`<failure/>`, a stream error) or sent something unusable. */
  | { readonly kind: 'failed'; readonly message: string }
  /** The server closed the TCP connection (or its stream) in the middle of the negotiation. */
  | { readonly kind: 'closed'; readonly message: string };

/** The gateway's own initial stream header (RFC 6120 §4.7): to the client's domain, no `from` (§4.7.1). */
export function negotiationHeader(domain: string): string {
  return `<?xml version='1.0'?><stream:stream xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAMS}' to='${escapeAttr(domain)}' version='1.0'>`;
}

export const STARTTLS_REQUEST = `<starttls xmlns='${NS_TLS}'/>`;

/** Local name and namespace of a top-level element under the stream's scope. */
function nameOf(el: ElementToken, scope: NamespaceScope): { local: string; ns: string | undefined } {
  return { local: localName(el.name), ns: namespaceOf(el, scope) };
}

/**
 * Runs the pre-TLS exchange on a connected socket. `done` is called exactly once, unless `cancel()`
 * comes first. On `proceed` every listener is gone and the socket is paused, ready for TLS.
 */
export function negotiateStartTls(socket: net.Socket, domain: string, maxElementBytes: number, done: (outcome: NegotiationOutcome, offer: StartTlsOffer | null) => void): { cancel(): void } {
  const tokenizer = new XmlTokenizer('stream', { maxElementBytes });
  let scope: NamespaceScope | null = null;
  let step: 'features' | 'proceed' = 'features';
  let offer: StartTlsOffer | null = null;
  let settled = false;

  const settle = (outcome: NegotiationOutcome): void => {
    if (settled) return;
    settled = true;
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onEnd);
    socket.removeListener('error', onError);
    done(outcome, offer);
  };

  const onToken = (token: Token): boolean => {
    if (token.kind === 'stream-open') {
      const s = namespaceScope(token);
      if (localName(token.name) !== 'stream' || namespaceOf(token, s) !== NS_STREAMS) {
        settle({ kind: 'failed', message: `server stream header <${token.name}> is not in ${NS_STREAMS}` });
        return false;
      }
      scope = s;
      return true;
    }
    if (token.kind === 'stream-close') {
      settle({ kind: 'closed', message: `server closed its stream while waiting for ${step === 'features' ? 'features' : '<proceed/>'}` });
      return false;
    }
    if (scope === null) {
      settle({ kind: 'failed', message: 'server sent an element before its stream header' });
      return false;
    }
    const { local, ns } = nameOf(token, scope);
    if (local === 'error' && ns === NS_STREAMS) {
      settle({ kind: 'failed', message: `server sent stream error ${streamErrorConditionOf(token)} during STARTTLS negotiation` });
      return false;
    }
    if (step === 'features') {
      if (local !== 'features' || ns !== NS_STREAMS) {
        settle({ kind: 'failed', message: `expected <stream:features/>, server sent <${token.name}>` });
        return false;
      }
      offer = startTlsOffer(token, scope);
      if (!offer.offered) {
        settle({ kind: 'not-offered' });
        return false;
      }
      step = 'proceed';
      socket.write(STARTTLS_REQUEST);
      return true;
    }
    if (ns === NS_TLS && local === 'proceed') {
      // Nothing may follow <proceed/> but the TLS handshake (RFC 6120 §5.4.2.3): stop reading now.
      socket.pause();
      settle({ kind: 'proceed' });
      return false;
    }
    if (ns === NS_TLS && local === 'failure') {
      settle({ kind: 'failed', message: 'server answered <starttls/> with <failure/> (RFC 6120 §5.4.2.2)' });
      return false;
    }
    settle({ kind: 'failed', message: `expected <proceed/>, server sent <${token.name}>` });
    return false;
  };

  const onData = (chunk: Buffer): void => {
    const { tokens, error } = tokenizer.feed(chunk);
    for (const token of tokens) if (!onToken(token)) return;
    if (error !== null) settle({ kind: 'failed', message: `server sent XML the gateway cannot read (${error.condition}): ${error.text}` });
  };
  const onEnd = (): void => settle({ kind: 'closed', message: `server closed the connection while waiting for ${step === 'features' ? 'its stream header and features' : '<proceed/>'}` });
  const onError = (err: NodeJS.ErrnoException): void => settle({ kind: 'closed', message: `${err.code ?? 'error'} while waiting for ${step === 'features' ? 'features' : '<proceed/>'}: ${err.message}` });

  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
  socket.once('error', onError);
  socket.write(negotiationHeader(domain));
  return {
    cancel: () => {
      settled = true;
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
    },
  };
}
