/**
 * Runs inputs through a tokenizer under a chunking and summarizes the result as plain data, so any
 * two chunkings can be compared with toEqual. Shared by the tokenizer's table and property tests.
 */
import { XmlTokenizer, type TokenizerMode } from '../../src/xml/tokenizer';
import type { Token, TokenizerCondition, TokenizerError, TokenizerLimits } from '../../src/xml/tokens';

/** What a run produced: every token (bytes as hex) and the first error, if any. */
export interface Outcome {
  readonly tokens: unknown[];
  readonly error: { condition: TokenizerCondition; text: string } | null;
}

/** How one part is cut into the chunks fed to the tokenizer. */
export type Chunker = (part: Buffer) => Buffer[];

export function describeToken(token: Token): unknown {
  if (token.kind === 'stream-close') return { kind: token.kind };
  if (token.kind === 'stream-open') {
    return { kind: token.kind, name: token.name, attrs: token.attrs, bytes: token.bytes.toString('hex') };
  }
  return {
    kind: token.kind,
    name: token.name,
    nameEnd: token.nameEnd,
    attrs: token.attrs,
    outerPrefixes: token.outerPrefixes,
    bytes: token.bytes.toString('hex'),
  };
}

export interface RunOptions {
  readonly limits?: Partial<TokenizerLimits>;
  /** Receives every token as emitted (for checks on the tokens themselves). */
  readonly elements?: Token[];
  /** Stream mode: call end() after the last part (an incomplete stream is then an error). */
  readonly endStream?: boolean;
}

/**
 * Feeds `parts` to a new tokenizer. Stream mode: each part after the first is a new document
 * (restart() before it). Fragment mode: each part is one WebSocket message, followed by end().
 */
export function runTokenizer(mode: TokenizerMode, parts: readonly Buffer[], chunker: Chunker, options: RunOptions = {}): Outcome {
  const tokenizer = new XmlTokenizer(mode, options.limits);
  const tokens: unknown[] = [];
  const outcome = (error: TokenizerError | null): Outcome => ({
    tokens,
    error: error === null ? null : { condition: error.condition, text: error.text },
  });
  for (let p = 0; p < parts.length; p++) {
    if (mode === 'stream' && p > 0) tokenizer.restart();
    for (const piece of chunker(parts[p]!)) {
      const result = tokenizer.feed(piece);
      for (const token of result.tokens) {
        tokens.push(describeToken(token));
        options.elements?.push(token);
      }
      if (result.error !== null) return outcome(result.error);
    }
    if (mode === 'fragment') {
      const error = tokenizer.end();
      if (error !== null) return outcome(error);
    }
  }
  return outcome(mode === 'stream' && options.endStream ? tokenizer.end() : null);
}
