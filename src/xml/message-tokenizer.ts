/**
 * Tokenizes whole client WebSocket messages (RFC 7395 §3.3.3: each message stands alone) with one
 * fragment-mode tokenizer shared by every session of a gateway. A message is fed and ended in one
 * synchronous call, so no state is carried from one message (or session) to the next; an instance
 * that reported an error is dead and is replaced. This saves a tokenizer per idle session.
 */
import { XmlTokenizer } from './tokenizer';
import type { FeedResult, TokenizerLimits } from './tokens';

export class MessageTokenizer {
  private tokenizer: XmlTokenizer;

  constructor(private readonly limits: Partial<TokenizerLimits>) {
    this.tokenizer = new XmlTokenizer('fragment', limits);
  }

  /** Every element of one complete message, or the error that makes the whole message invalid. */
  tokenize(message: Uint8Array): FeedResult {
    const { tokens, error } = this.tokenizer.feed(message);
    const endError = error ?? this.tokenizer.end();
    if (endError !== null) this.tokenizer = new XmlTokenizer('fragment', this.limits);
    return { tokens, error: endError };
  }
}
