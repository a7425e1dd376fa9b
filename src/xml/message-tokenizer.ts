/**
 * Tokenizes whole inputs with one tokenizer shared by every session of a gateway: client WebSocket
 * messages (RFC 7395 §3.3.3: each message stands alone; fragment mode) and BOSH request bodies (one
 * `<body/>` document each; stream mode, ../transports/bosh/request.ts). An input is fed and ended in
 * one synchronous call, so no state is carried from one input (or session) to the next; an instance
 * that reported an error is dead and is replaced. This saves a tokenizer per idle session.
 */
import { XmlTokenizer, type TokenizerMode } from './tokenizer';
import type { FeedResult, TokenizerLimits } from './tokens';

export class MessageTokenizer {
  private tokenizer: XmlTokenizer;

  constructor(
    private readonly limits: Partial<TokenizerLimits>,
    private readonly mode: TokenizerMode = 'fragment',
  ) {
    this.tokenizer = new XmlTokenizer(mode, limits);
  }

  /** Every token of one complete input, or the error that makes the whole input invalid. */
  tokenize(input: Uint8Array): FeedResult {
    const { tokens, error } = this.tokenizer.feed(input);
    const endError = error ?? this.tokenizer.end();
    if (endError !== null) this.tokenizer = new XmlTokenizer(this.mode, this.limits);
    else if (this.mode === 'stream') this.tokenizer.restart(); // the next input is a new document
    return { tokens, error: endError };
  }
}
