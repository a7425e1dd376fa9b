/**
 * What the tokenizer (./tokenizer.ts) hands to the session. Pure data, no I/O.
 *
 * The tokenizer works on bytes: every `bytes` field is the exact UTF-8 input, so the gateway
 * relays elements byte for byte and only ever inserts namespace declarations at `nameEnd`.
 */

/** One attribute of a start tag, value with entity and character references decoded. */
export interface Attribute {
  /** Qualified name as written, e.g. `to`, `xml:lang`, `xmlns:stream`. */
  readonly name: string;
  /** Decoded value (`&amp;` → `&`, `&#x41;` → `A`). */
  readonly value: string;
}

/**
 * Tokens may be class instances whose fields are computed on first read (attributes are decoded
 * lazily, which is most of the tokenizer's speed): read fields, never copy a token with object spread.
 *
 * A complete top-level element: a stanza, `<stream:features/>`, `<stream:error/>`, or, in
 * fragment mode, `<open/>`/`<close/>` (the framing layer tells those apart by name and namespace).
 */
export interface ElementToken {
  readonly kind: 'element';
  /** Exact bytes from the first `<` to the last `>`, nothing around them. */
  readonly bytes: Buffer;
  /** Qualified name of the element, e.g. `message`, `stream:features`. */
  readonly name: string;
  /** Byte offset in `bytes` just after the qualified name in the start tag: where extra namespace declarations go. */
  readonly nameEnd: number;
  /** Attributes of the top-level start tag only, in document order. */
  readonly attrs: readonly Attribute[];
  /**
   * Namespace prefixes this element relies on from its surroundings: used (in an element or attribute
   * name) somewhere inside it but not declared inside it. `''` means some unprefixed element inside
   * (normally the top-level one) has no `xmlns` in scope within the element, and so inherits the
   * stream's default namespace. `xml` is never listed.
   */
  readonly outerPrefixes: readonly string[];
}

/** Stream mode only: the `<stream:stream …>` start tag that opens a document (RFC 6120 §4.7). */
export interface StreamOpenToken {
  readonly kind: 'stream-open';
  /** Qualified name as written, normally `stream:stream`. */
  readonly name: string;
  readonly attrs: readonly Attribute[];
  /** Exact bytes of the start tag. */
  readonly bytes: Buffer;
}

/** Stream mode only: the end tag that closes the open document (`</stream:stream>`). */
export interface StreamCloseToken {
  readonly kind: 'stream-close';
}

export type Token = ElementToken | StreamOpenToken | StreamCloseToken;

/** The stream-error conditions (RFC 6120 §4.9.3) the tokenizer itself can raise. */
export type TokenizerCondition = 'not-well-formed' | 'restricted-xml' | 'policy-violation' | 'bad-format';

/** Why the input cannot be tokenized. The tokenizer is dead after returning one. */
export interface TokenizerError {
  readonly condition: TokenizerCondition;
  /** Short, specific, safe to send to the peer and to log (never echoes more than a few input bytes). */
  readonly text: string;
}

/** Result of feeding one chunk: every token completed by it, in order, and the error that stopped it, if any. */
export interface FeedResult {
  readonly tokens: Token[];
  readonly error: TokenizerError | null;
}

export interface TokenizerLimits {
  /** Largest top-level element (or stream header) in bytes; checked as bytes arrive, before buffering more. */
  readonly maxElementBytes: number;
  /** Deepest element nesting inside one top-level element (the top-level element is depth 1). */
  readonly maxDepth: number;
  /**
   * Most attributes on one start tag. Duplicates are found in linear time, so this is only a
   * backstop: the default is more than an element within the default size limit can hold (an
   * attribute takes at least 5 bytes, ` a=''`), so in practice only maxElementBytes binds.
   */
  readonly maxAttributes: number;
}

/**
 * The one place these defaults are written: `--max-stanza-size` and `--max-depth` default to them
 * (../config.ts), and the gateway hands every tokenizer its configured values (../limits.ts).
 */
export const DEFAULT_TOKENIZER_LIMITS: TokenizerLimits = Object.freeze({
  maxElementBytes: 262144,
  maxDepth: 64,
  maxAttributes: 65536,
});
