/**
 * Incremental XML tokenizer for XMPP: splits bytes into stream headers, top-level elements and
 * stream footers without building a DOM (RFC 6120 §4, §11; RFC 7395 §3.3).
 *
 * One numeric state machine reads every byte exactly once, so a chunk may end anywhere (inside a
 * UTF-8 sequence, a name, `]]>`, `?>`, a reference) and the result never depends on where. Bytes
 * of an element are copied only when the element spans chunks; an element inside one chunk is
 * emitted as a view of that chunk (callers must not reuse a chunk's memory after feeding it).
 *
 * Two modes:
 * - `stream`: the server's c2s byte stream. An optional `<?xml …?>` (leading whitespace tolerated), the root start tag
 *   (→ StreamOpenToken), depth-1 children (→ ElementToken), the root end tag (→ StreamCloseToken).
 *   Whitespace between children (keepalives) is skipped and never buffered.
 * - `fragment`: one RFC 7395 WebSocket message per feed()…end(): zero or more complete top-level
 *   elements, optionally preceded by an XML declaration as its very first bytes.
 */
import { decodeAttributeValue, isPredefinedEntity, MAX_PREDEFINED_NAME, readAttributes } from './entities';
import {
  ATTR_DQ_CLASS,
  ATTR_SQ_CLASS,
  ByteClass,
  CDATA_CLASS,
  isNameCodePoint,
  isNameStartCodePoint,
  isWhitespace,
  isXmlChar,
  NAME_CLASS,
  NameClass,
  TEXT_CLASS,
} from './chars';
import {
  Attribute,
  DEFAULT_TOKENIZER_LIMITS,
  ElementToken,
  FeedResult,
  Token,
  TokenizerCondition,
  TokenizerError,
  TokenizerLimits,
} from './tokens';
import {
  decodeName,
  utf8,
  UTF8_HI,
  UTF8_LEAD_BITS,
  UTF8_LO,
  UTF8_NEED,
  UTF8_NONCHAR_TEXT,
  utf8ContinuationError,
  utf8LeadError,
} from './utf8';

export type TokenizerMode = 'stream' | 'fragment';

/**
 * Attributes per tag checked for duplicates by direct comparison; beyond this a tag's names go into
 * a hash set. XMPP stanzas carry a handful, so the common case allocates nothing.
 */
const LINEAR_ATTRIBUTES = 16;

/** Namespace declarations in scope looked up by scanning; beyond this, through a map (see declaredIndex). */
const LINEAR_PREFIXES = 32;

/** Longest accepted `<?xml …?>` declaration, in bytes. A real one is under 60. */
export const MAX_XML_DECL_BYTES = 256;

//
// States. Top-level states are between constructs (no byte is buffered there); every other
// state is inside a construct: the XML declaration, the stream header, a top-level element
// or the stream's end tag.
//
const enum State {
  /** Stream mode: start of a document; whitespace, `<?xml …?>` or the stream header may follow. */
  DOC_START = 0,
  /** Stream mode: after the XML declaration, before the stream header. */
  PROLOG = 1,
  /** Stream mode: inside the root element, between top-level elements. */
  STREAM = 2,
  /** Stream mode: after the root's end tag; only whitespace until restart(). */
  AFTER_CLOSE = 3,
  /** Fragment mode: start of a message (no byte read yet); an XML declaration may follow. */
  MSG_START = 4,
  /** Fragment mode: between top-level elements of a message. */
  MSG = 5,
  /** After an error; nothing is read any more. */
  DEAD = 6,
  /** After a top-level `<`. `topState` says which top-level state it came from. */
  TOP_LT = 7,
  /** After a top-level `<!`. */
  TOP_BANG = 8,
  /** After `<?`, matching the target `xml` (`piIndex` bytes matched). */
  PI_TARGET = 9,
  /** Inside `<?xml …`. */
  DECL = 10,
  /** Inside the XML declaration, just after `?`. */
  DECL_Q = 11,
  /** In the name of a start tag. */
  START_NAME = 12,
  /** In a start tag after whitespace: an attribute, `/` or `>` may follow. */
  TAG_SPACE = 13,
  /** Right after an attribute value's closing quote: whitespace, `/` or `>` must follow. */
  AFTER_VALUE = 14,
  /** In an attribute name. */
  ATTR_NAME = 15,
  /** After an attribute name, before `=`. */
  ATTR_BEFORE_EQ = 16,
  /** After `=`, before the opening quote. */
  ATTR_AFTER_EQ = 17,
  /** Inside a quoted attribute value (`quoteTable` tells which quote ends it). */
  ATTR_VALUE = 18,
  /** After `/` in a start tag: `>` must follow. */
  EMPTY_SLASH = 19,
  /** Character data inside an element. */
  CONTENT = 20,
  /** Character data right after `]`. */
  CONTENT_RB1 = 21,
  /** Character data right after `]]` (a `>` now would be the forbidden `]]>`). */
  CONTENT_RB2 = 22,
  /** After `<` inside an element. */
  CONTENT_LT = 23,
  /** After `<!` inside an element, matching `[CDATA[` (`bangIndex` bytes matched). */
  BANG = 24,
  CDATA = 25,
  CDATA_RB1 = 26,
  CDATA_RB2 = 27,
  /** In an end tag's name, comparing against the open element's name. */
  END_NAME = 28,
  /** In an end tag after its name: whitespace, then `>`. */
  END_SPACE = 29,
  /** After `&`. `refReturn` is the state to go back to after `;`. */
  REF_START = 30,
  ENTITY_NAME = 31,
  /** After `&#`. */
  CHARREF_START = 32,
  /** After `&#x`. */
  CHARREF_HEX_START = 33,
  CHARREF_DEC = 34,
  CHARREF_HEX = 35,
  /** Continuation bytes of a UTF-8 sequence in text, CDATA or an attribute value; then `u8Return`. */
  UTF8 = 36,
  /** Continuation bytes of a UTF-8 sequence in a name (copied to `nameSink`); then `u8Return`. */
  NAME_UTF8 = 37,
}

/** Where State.NAME_UTF8 copies the bytes of a non-ASCII name character. */
const enum NameSink {
  NONE,
  ELEMENT,
  ATTR,
}

const enum AttrKind {
  PLAIN,
  /** `xmlns:prefix`, whose value must not be empty (Namespaces in XML 1.0 §3). */
  PREFIX_DECL,
  /** `xmlns='…'`. */
  DEFAULT_DECL,
  /** `xmlns:xml`, which may only bind the XML namespace (Namespaces in XML 1.0 §3). */
  XML_DECL,
}

/** The namespace names reserved by Namespaces in XML 1.0 §3. */
const XML_NS = Buffer.from('http://www.w3.org/XML/1998/namespace');
const XMLNS_NS = Buffer.from('http://www.w3.org/2000/xmlns/');

/** `[CDATA[`, the rest of `<![CDATA[`. */
const CDATA_OPEN = [0x5b, 0x43, 0x44, 0x41, 0x54, 0x41, 0x5b];

/** Hex digit values, -1 for other bytes. */
const HEX_VALUE: Int8Array = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) table[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[0x41 + i] = 10 + i;
    table[0x61 + i] = 10 + i;
  }
  return table;
})();

/**
 * Loose but proper XML declaration (XML 1.0 §2.8): version, then optional encoding and
 * standalone pseudo-attributes, in that order.
 */
const XML_DECL =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:'1\.[0-9]+'|"1\.[0-9]+")(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:'([A-Za-z][A-Za-z0-9._-]*)'|"([A-Za-z][A-Za-z0-9._-]*)"))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:'(?:yes|no)'|"(?:yes|no)"))?[ \t\r\n]*\?>$/;

/**
 * Pending-buffer capacity kept between elements; a larger one is released after use. Small, because
 * a gateway holds two tokenizers per idle session: one large stanza must not pin memory for life.
 */
const PENDING_KEEP_BYTES = 4096;

const NO_ATTRIBUTES: readonly Attribute[] = Object.freeze([]);
const NO_PREFIXES: readonly string[] = Object.freeze([]);
const DEFAULT_PREFIX_ONLY: readonly string[] = Object.freeze(['']);
const EMPTY_BUFFER = Buffer.alloc(0);
const EMPTY_INT32 = new Int32Array(0);

/**
 * Scratch lent to whichever tokenizer is inside feed() (feed is synchronous and never re-entered). A
 * tokenizer keeps scratch of its own only while a construct is partially buffered across chunks, so
 * an idle session's tokenizer holds no typed arrays at all; the stream root's name, the one thing
 * kept between constructs, is written back in from a string when scratch is borrowed.
 */
const shared: { pending: Buffer; nameStack: Buffer; nameStarts: Int32Array; nameEnds: Int32Array; nsMarks: Int32Array; attrNames: Buffer; attrNameStarts: Int32Array } = {
  pending: EMPTY_BUFFER,
  nameStack: EMPTY_BUFFER,
  nameStarts: EMPTY_INT32,
  nameEnds: EMPTY_INT32,
  nsMarks: EMPTY_INT32,
  attrNames: EMPTY_BUFFER,
  attrNameStarts: EMPTY_INT32,
};

const NWF: TokenizerCondition = 'not-well-formed';
const RESTRICTED: TokenizerCondition = 'restricted-xml';
const POLICY: TokenizerCondition = 'policy-violation';
const BAD_FORMAT: TokenizerCondition = 'bad-format';

const TEXT_PI = 'processing instructions are not allowed (RFC 6120 §11.1)';
const TEXT_PI_OR_DECL = `${TEXT_PI}; an XML declaration is allowed only as the very first bytes (XML 1.0 §2.8)`;
const TEXT_COMMENT = 'comments are not allowed (RFC 6120 §11.1)';
const TEXT_MARKUP = 'DTDs and markup declarations are not allowed (RFC 6120 §11.1)';
const TEXT_CONTROL = 'control character is not an XML character';
const TEXT_MALFORMED_REF = "malformed reference ('&' must be escaped as '&amp;')";

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Whether `buf[start, end)` is `xmlns`. */
function isXmlns(buf: Uint8Array, start: number, end: number): boolean {
  return (
    end - start === 5 &&
    buf[start] === 0x78 &&
    buf[start + 1] === 0x6d &&
    buf[start + 2] === 0x6c &&
    buf[start + 3] === 0x6e &&
    buf[start + 4] === 0x73
  );
}

/** Whether `buf[start, end)` is `xml`. */
function isXml(buf: Uint8Array, start: number, end: number): boolean {
  return end - start === 3 && buf[start] === 0x78 && buf[start + 1] === 0x6d && buf[start + 2] === 0x6c;
}

function grownInt32(array: Int32Array, needed: number): Int32Array {
  if (needed <= array.length) return array;
  const grown = new Int32Array(Math.max(needed, array.length * 2));
  grown.set(array);
  return grown;
}

function grownBuffer(buffer: Buffer, used: number, needed: number): Buffer {
  if (needed <= buffer.length) return buffer;
  // Scratch that lives as long as the tokenizer: not from Node's shared 8 KiB pool, where one small
  // long-lived slice would keep a whole pool block alive.
  const grown = Buffer.allocUnsafeSlow(Math.max(needed, buffer.length * 2, 64));
  buffer.copy(grown, 0, 0, used);
  return grown;
}

/**
 * A top-level element. Its attributes are read from `bytes` on first access: most stanzas are
 * relayed without anyone looking at them, and decoding attributes costs about a third of the
 * whole tokenizing time. `attrs` is a getter on the prototype, so a copy made with object spread
 * does not carry it: build a new token from the fields instead.
 */
class LazyElementToken implements ElementToken {
  readonly kind = 'element' as const;
  private decodedAttrs: readonly Attribute[] | null;

  constructor(
    readonly bytes: Buffer,
    readonly name: string,
    readonly nameEnd: number,
    readonly outerPrefixes: readonly string[],
    hasAttrs: boolean,
    /** Length of the start tag in bytes. */
    private readonly tagLength: number,
    /** Whether some attribute value holds a reference or a literal tab, LF or CR. */
    private readonly decodeValues: boolean,
  ) {
    this.decodedAttrs = hasAttrs ? null : NO_ATTRIBUTES;
  }

  get attrs(): readonly Attribute[] {
    this.decodedAttrs ??= readAttributes(utf8(this.bytes, 0, this.tagLength), 1 + this.name.length, this.decodeValues);
    return this.decodedAttrs;
  }

  toJSON(): object {
    const { kind, bytes, name, nameEnd, attrs, outerPrefixes } = this;
    return { kind, bytes, name, nameEnd, attrs, outerPrefixes };
  }
}

/**
 * Splits an XMPP byte stream (or WebSocket messages) into tokens. See the file comment for the
 * two modes and ./tokens.ts for what each token holds.
 */
export class XmlTokenizer {
  private readonly fragment: boolean;
  private readonly maxElementBytes: number;
  private readonly maxDepth: number;
  private readonly maxAttributes: number;

  private state: number;
  private error: TokenizerError | null = null;

  // Position and the construct being read.
  /** Absolute offset of the current chunk's first byte. */
  private base = 0;
  /** Whether a construct (declaration, header, element, stream end tag) has started and not ended. */
  private inConstruct = false;
  /** Top-level state the current construct started from (and returns to). */
  private topState: number;
  /** Absolute offset of the construct's `<`. */
  private constructStart = 0;
  /** Absolute offset one past the last byte the construct may use; Infinity between constructs. */
  private limitAbs = Infinity;
  /** What the limit at limitAbs bounds, for its error text (a constant: nothing built per construct). */
  private limitWhat: 'element' | 'stream header' | 'stream end tag' | 'XML declaration' = 'element';
  /** Index in the current chunk from which the construct's bytes are not yet in `pending`. */
  private copyFrom = 0;
  /** The construct's bytes from earlier chunks. */
  private pending: Buffer = EMPTY_BUFFER;
  private pendingLen = 0;

  // Elements open inside the construct. Depth 0 is the stream root (stream mode), depth 1 the top-level element.
  private depth = 0;
  /** Names of the open elements, back to back; element `d` is `nameStack[nameStarts[d], nameEnds[d])`. */
  // Scratch arrays start empty and grow on first use (every write is preceded by a growth check), so
  // an idle tokenizer costs little more than its fields.
  private nameStack: Buffer = EMPTY_BUFFER;
  private nameTop = 0;
  private nameStarts: Int32Array = EMPTY_INT32;
  private nameEnds: Int32Array = EMPTY_INT32;
  /** Whether the next name character must be a NameStartChar (at the start, after the colon). */
  private nameFirst = true;
  /** Offset of the colon in the name being read (relative to its start), or -1. */
  private nameColon = -1;
  private nameSink: NameSink = NameSink.NONE;

  // The start tag being read.
  private attrCount = 0;
  /** Names of this tag's attributes, back to back; attribute `i` starts at `attrNameStarts[i]`. */
  private attrNames: Buffer = EMPTY_BUFFER;
  private attrNamesTop = 0;
  private attrNameStarts: Int32Array = EMPTY_INT32;
  /**
   * Duplicate-attribute index for tags with many attributes (see endAttributeName): an open-addressing
   * hash set of attribute indexes + 1, a power of two in size. A slot counts only if its
   * `attrSeenStamp` equals `attrStamp`, so starting a new tag's set is one increment, not a clear.
   */
  private attrSeen: Int32Array = EMPTY_INT32;
  private attrSeenStamp: Int32Array = EMPTY_INT32;
  private attrStamp = 0;
  private attrKind: AttrKind = AttrKind.PLAIN;
  private quoteTable: Uint8Array = ATTR_DQ_CLASS;
  private valueStart = 0;
  /** Whether the attribute value being read holds a reference. */
  private valueRefs = false;
  /** Whether a value of this tag holds a reference or a literal tab, LF or CR (XML 1.0 §3.3.3). */
  private tagDecodeValues = false;
  /** Prefix of this tag's element name: `''` when unprefixed (it uses the default namespace), null for `xml:`. */
  private elementPrefix: string | null = '';
  /** Prefixes of this tag's attribute names (not `xml`, not `xmlns`). */
  private readonly usedPrefixes: string[] = [];
  /**
   * Prefixes declared by the open elements of the construct (`''` for a default namespace
   * declaration `xmlns='…'`); `nsMarks[d]` is the count before depth `d`.
   */
  private readonly declaredPrefixes: string[] = [];
  /** Live entries of declaredPrefixes (the array is never shrunk: writing `length` is a runtime call). */
  private declaredCount = 0;
  /**
   * Live declarations per prefix, kept only while more than LINEAR_PREFIXES are in scope, so that
   * resolving a prefix stays constant-time when a construct declares thousands of them.
   */
  private declaredIndex: Map<string, number> | null = null;
  private nsMarks: Int32Array = EMPTY_INT32;

  // The top-level element being read (valid once its start tag ended).
  private topName = '';
  /** Stream mode: the root's name while it is open (`nameStack[0, nameTop)` between constructs). */
  private rootName = '';
  private topNameEnd = 0;
  private topHasAttrs = false;
  private topTagLength = 0;
  private topDecodeValues = false;
  private outerPrefixes: string[] | null = null;
  /** The same prefixes as a set, once there are more than LINEAR_PREFIXES of them. */
  private outerSeen: Set<string> | null = null;

  // Small sub-machines.
  private endPos = 0;
  private endStop = 0;
  private bangIndex = 0;
  private piIndex = 0;
  private refReturn = State.CONTENT;
  private refValue = 0;
  private refPacked = 0;
  private refLength = 0;
  private u8Need = 0;
  private u8Lo = 0;
  private u8Hi = 0;
  private u8Lead = 0;
  private u8Index = 0;
  private u8Cp = 0;
  private u8Return = State.CONTENT;

  constructor(mode: TokenizerMode, limits?: Partial<TokenizerLimits>) {
    this.fragment = mode === 'fragment';
    const merged = { ...DEFAULT_TOKENIZER_LIMITS, ...limits };
    this.maxElementBytes = merged.maxElementBytes;
    this.maxDepth = merged.maxDepth;
    this.maxAttributes = merged.maxAttributes;
    this.state = this.fragment ? State.MSG_START : State.DOC_START;
    this.topState = this.state;
  }

  /** Bytes held for an incomplete construct (element, stream header, XML declaration). */
  get bufferedBytes(): number {
    return this.pendingLen;
  }

  /**
   * Reads one chunk. Returns every token the chunk completed, in order, and the error that
   * stopped reading, if any (tokens completed before the error are still returned). After an
   * error the tokenizer is dead: every later call returns the same error and no tokens.
   */
  feed(chunk: Uint8Array): FeedResult {
    if (this.error !== null) return { tokens: [], error: this.error };
    if (!this.inConstruct) this.borrowScratch();
    try {
      return this.read(chunk);
    } finally {
      if (!this.inConstruct) this.returnScratch();
    }
  }

  private read(chunk: Uint8Array): FeedResult {
    const tokens: Token[] = [];
    const buf = asBuffer(chunk);
    const len = buf.length;
    let state = this.state;
    let pos = 0;
    let end = this.inConstruct ? Math.min(len, this.limitAbs - this.base) : len;
    this.copyFrom = 0;
    // Tables in locals: the hot loops then index them without a module-object load per byte.
    const textClass = TEXT_CLASS;
    const cdataClass = CDATA_CLASS;
    const nameClass = NAME_CLASS;

    for (;;) {
      if (pos >= end) {
        if (end >= len) break;
        // The next byte would make the construct larger than allowed: stop before buffering it.
        return this.die(tokens, POLICY, this.limitText());
      }
      switch (state) {
        case State.CONTENT: {
          let c = ByteClass.PLAIN;
          while (pos < end) {
            c = textClass[buf[pos]];
            if (c !== ByteClass.PLAIN) break;
            pos++;
          }
          if (pos >= end) break;
          if (c === ByteClass.LT) {
            state = State.CONTENT_LT;
            pos++;
          } else if (c === ByteClass.AMP) {
            this.refReturn = State.CONTENT;
            state = State.REF_START;
            pos++;
          } else if (c === ByteClass.RBRACKET) {
            state = State.CONTENT_RB1;
            pos++;
          } else if (c === ByteClass.NON_ASCII) {
            pos = this.skipUtf8(buf, pos, end);
            if (pos < 0) return this.dead(tokens);
            if (this.u8Need !== 0) {
              this.u8Return = State.CONTENT;
              state = State.UTF8;
            }
          } else {
            return this.die(tokens, NWF, TEXT_CONTROL);
          }
          break;
        }

        case State.CONTENT_LT: {
          const b = buf[pos];
          const c = nameClass[b];
          if (c === NameClass.START || c === NameClass.NON_ASCII) {
            if (!this.openTag(this.depth + 1)) return this.dead(tokens);
            state = State.START_NAME;
          } else if (b === 0x2f /* / */) {
            this.beginEndTag(this.depth);
            state = State.END_NAME;
            pos++;
          } else if (b === 0x21 /* ! */) {
            this.bangIndex = 0;
            state = State.BANG;
            pos++;
          } else if (b === 0x3f /* ? */) {
            return this.die(tokens, RESTRICTED, TEXT_PI);
          } else {
            return this.die(tokens, NWF, "invalid character after '<'");
          }
          break;
        }

        case State.START_NAME: {
          const stack = this.nameStack;
          let top = this.nameTop;
          let first = this.nameFirst;
          let c = NameClass.START;
          let b = 0;
          while (pos < end) {
            b = buf[pos];
            c = nameClass[b];
            if (c === NameClass.START || (c === NameClass.CHAR && !first)) {
              if (top === stack.length) break;
              stack[top++] = b;
              first = false;
              pos++;
            } else {
              break;
            }
          }
          this.nameTop = top;
          this.nameFirst = first;
          if (pos >= end) break;
          if (top === stack.length) {
            this.nameStack = grownBuffer(stack, top, top + 1);
            break;
          }
          if (c === NameClass.COLON) {
            if (first || this.nameColon >= 0) return this.die(tokens, NWF, 'invalid element name');
            this.nameColon = top - this.nameStarts[this.depth];
            this.nameFirst = true;
            stack[this.nameTop++] = b;
            pos++;
          } else if (c === NameClass.NON_ASCII) {
            if (!this.beginNameUtf8(b, NameSink.ELEMENT)) return this.dead(tokens);
            this.u8Return = State.START_NAME;
            state = State.NAME_UTF8;
            pos++;
          } else {
            if (first) return this.die(tokens, NWF, 'invalid element name');
            if (!this.endElementName()) return this.dead(tokens);
            if (b === 0x3e /* > */) {
              state = this.endStartTag(buf, pos, false, tokens);
              if (state < 0) return this.dead(tokens);
              if (!this.inConstruct) end = len;
            } else if (b === 0x2f /* / */) {
              state = State.EMPTY_SLASH;
            } else if (isWhitespace(b)) {
              state = State.TAG_SPACE;
            } else {
              return this.die(tokens, NWF, 'invalid character in element name');
            }
            pos++;
          }
          break;
        }

        case State.TAG_SPACE: {
          let b = 0;
          while (pos < end && isWhitespace((b = buf[pos]))) pos++;
          if (pos >= end) break;
          const c = nameClass[b];
          if (c === NameClass.START || c === NameClass.NON_ASCII) {
            if (!this.beginAttribute()) return this.dead(tokens);
            state = State.ATTR_NAME;
          } else if (b === 0x3e /* > */) {
            state = this.endStartTag(buf, pos, false, tokens);
            if (state < 0) return this.dead(tokens);
            if (!this.inConstruct) end = len;
            pos++;
          } else if (b === 0x2f /* / */) {
            state = State.EMPTY_SLASH;
            pos++;
          } else {
            return this.die(tokens, NWF, 'invalid character in start tag');
          }
          break;
        }

        case State.AFTER_VALUE: {
          const b = buf[pos];
          if (isWhitespace(b)) {
            state = State.TAG_SPACE;
            pos++;
          } else if (b === 0x3e /* > */) {
            state = this.endStartTag(buf, pos, false, tokens);
            if (state < 0) return this.dead(tokens);
            if (!this.inConstruct) end = len;
            pos++;
          } else if (b === 0x2f /* / */) {
            state = State.EMPTY_SLASH;
            pos++;
          } else {
            const c = nameClass[b];
            const named = c === NameClass.START || c === NameClass.NON_ASCII;
            return this.die(tokens, NWF, named ? 'whitespace required between attributes' : 'invalid character in start tag');
          }
          break;
        }

        case State.ATTR_NAME: {
          const names = this.attrNames;
          let top = this.attrNamesTop;
          let first = this.nameFirst;
          let c = NameClass.START;
          let b = 0;
          while (pos < end) {
            b = buf[pos];
            c = nameClass[b];
            if (c === NameClass.START || (c === NameClass.CHAR && !first)) {
              if (top === names.length) break;
              names[top++] = b;
              first = false;
              pos++;
            } else {
              break;
            }
          }
          this.attrNamesTop = top;
          this.nameFirst = first;
          if (pos >= end) break;
          if (top === names.length) {
            this.attrNames = grownBuffer(names, top, top + 1);
            break;
          }
          if (c === NameClass.COLON) {
            if (first || this.nameColon >= 0) return this.die(tokens, NWF, 'invalid attribute name');
            this.nameColon = top - this.attrNameStarts[this.attrCount - 1];
            this.nameFirst = true;
            names[this.attrNamesTop++] = b;
            pos++;
          } else if (c === NameClass.NON_ASCII) {
            if (!this.beginNameUtf8(b, NameSink.ATTR)) return this.dead(tokens);
            this.u8Return = State.ATTR_NAME;
            state = State.NAME_UTF8;
            pos++;
          } else {
            if (first) return this.die(tokens, NWF, 'invalid attribute name');
            if (!this.endAttributeName()) return this.dead(tokens);
            if (b === 0x3d /* = */) {
              state = State.ATTR_AFTER_EQ;
            } else if (isWhitespace(b)) {
              state = State.ATTR_BEFORE_EQ;
            } else {
              return this.die(tokens, NWF, "expected '=' after attribute name");
            }
            pos++;
          }
          break;
        }

        case State.ATTR_BEFORE_EQ: {
          let b = 0;
          while (pos < end && isWhitespace((b = buf[pos]))) pos++;
          if (pos >= end) break;
          if (b !== 0x3d /* = */) return this.die(tokens, NWF, "expected '=' after attribute name");
          state = State.ATTR_AFTER_EQ;
          pos++;
          break;
        }

        case State.ATTR_AFTER_EQ: {
          let b = 0;
          while (pos < end && isWhitespace((b = buf[pos]))) pos++;
          if (pos >= end) break;
          if (b === 0x22 /* " */) {
            this.quoteTable = ATTR_DQ_CLASS;
          } else if (b === 0x27 /* ' */) {
            this.quoteTable = ATTR_SQ_CLASS;
          } else {
            return this.die(tokens, NWF, 'attribute value must be quoted');
          }
          pos++;
          this.valueStart = this.base + pos;
          this.valueRefs = false;
          state = State.ATTR_VALUE;
          break;
        }

        case State.ATTR_VALUE: {
          const table = this.quoteTable;
          let c = ByteClass.PLAIN;
          while (pos < end) {
            c = table[buf[pos]];
            if (c !== ByteClass.PLAIN) break;
            pos++;
          }
          if (pos >= end) break;
          if (c === ByteClass.QUOTE) {
            if (!this.endAttributeValue(buf, pos)) return this.dead(tokens);
            state = State.AFTER_VALUE;
            pos++;
          } else if (c === ByteClass.AMP) {
            this.tagDecodeValues = true;
            this.valueRefs = true;
            this.refReturn = State.ATTR_VALUE;
            state = State.REF_START;
            pos++;
          } else if (c === ByteClass.ATTR_WS) {
            this.tagDecodeValues = true;
            pos++;
          } else if (c === ByteClass.NON_ASCII) {
            pos = this.skipUtf8(buf, pos, end);
            if (pos < 0) return this.dead(tokens);
            if (this.u8Need !== 0) {
              this.u8Return = State.ATTR_VALUE;
              state = State.UTF8;
            }
          } else if (c === ByteClass.LT) {
            return this.die(tokens, NWF, "'<' is not allowed in attribute values");
          } else {
            return this.die(tokens, NWF, TEXT_CONTROL);
          }
          break;
        }

        case State.EMPTY_SLASH: {
          if (buf[pos] !== 0x3e /* > */) return this.die(tokens, NWF, "expected '>' after '/' in start tag");
          state = this.endStartTag(buf, pos, true, tokens);
          if (state < 0) return this.dead(tokens);
          if (!this.inConstruct) end = len;
          pos++;
          break;
        }

        case State.END_NAME: {
          const stack = this.nameStack;
          const stop = this.endStop;
          let p = this.endPos;
          while (pos < end && p < stop) {
            if (buf[pos] !== stack[p]) return this.die(tokens, NWF, 'end tag does not match the open element');
            p++;
            pos++;
          }
          this.endPos = p;
          if (pos >= end) break;
          const b = buf[pos];
          if (b === 0x3e /* > */) {
            state = this.closeElement(buf, pos, tokens);
            if (!this.inConstruct) end = len;
          } else if (isWhitespace(b)) {
            state = State.END_SPACE;
          } else {
            return this.die(tokens, NWF, 'end tag does not match the open element');
          }
          pos++;
          break;
        }

        case State.END_SPACE: {
          let b = 0;
          while (pos < end && isWhitespace((b = buf[pos]))) pos++;
          if (pos >= end) break;
          if (b !== 0x3e /* > */) return this.die(tokens, NWF, "expected '>' in end tag");
          state = this.closeElement(buf, pos, tokens);
          if (!this.inConstruct) end = len;
          pos++;
          break;
        }

        case State.UTF8: {
          pos = this.continueUtf8(buf, pos, end);
          if (pos < 0) return this.dead(tokens);
          if (this.u8Need === 0) state = this.u8Return;
          break;
        }

        case State.CONTENT_RB1:
        case State.CONTENT_RB2: {
          const b = buf[pos];
          if (b === 0x5d /* ] */) {
            state = State.CONTENT_RB2;
            pos++;
          } else if (b === 0x3e /* > */ && state === State.CONTENT_RB2) {
            return this.die(tokens, NWF, "']]>' is not allowed in character data");
          } else {
            state = State.CONTENT;
          }
          break;
        }

        case State.BANG: {
          const b = buf[pos];
          if (b === CDATA_OPEN[this.bangIndex]) {
            pos++;
            if (++this.bangIndex === CDATA_OPEN.length) state = State.CDATA;
          } else {
            return this.die(tokens, RESTRICTED, this.bangIndex === 0 && b === 0x2d ? TEXT_COMMENT : TEXT_MARKUP);
          }
          break;
        }

        case State.CDATA: {
          let c = ByteClass.PLAIN;
          while (pos < end) {
            c = cdataClass[buf[pos]];
            if (c !== ByteClass.PLAIN) break;
            pos++;
          }
          if (pos >= end) break;
          if (c === ByteClass.RBRACKET) {
            state = State.CDATA_RB1;
            pos++;
          } else if (c === ByteClass.NON_ASCII) {
            pos = this.skipUtf8(buf, pos, end);
            if (pos < 0) return this.dead(tokens);
            if (this.u8Need !== 0) {
              this.u8Return = State.CDATA;
              state = State.UTF8;
            }
          } else {
            return this.die(tokens, NWF, TEXT_CONTROL);
          }
          break;
        }

        case State.CDATA_RB1:
        case State.CDATA_RB2: {
          const b = buf[pos];
          if (b === 0x5d /* ] */) {
            state = State.CDATA_RB2;
            pos++;
          } else if (b === 0x3e /* > */ && state === State.CDATA_RB2) {
            state = State.CONTENT;
            pos++;
          } else {
            state = State.CDATA;
          }
          break;
        }

        case State.REF_START: {
          const b = buf[pos];
          const c = nameClass[b];
          if (b === 0x23 /* # */) {
            state = State.CHARREF_START;
            pos++;
          } else if (c === NameClass.START || c === NameClass.COLON) {
            this.refPacked = b;
            this.refLength = 1;
            state = State.ENTITY_NAME;
            pos++;
          } else if (c === NameClass.NON_ASCII) {
            this.refLength = MAX_PREDEFINED_NAME + 1;
            this.nameFirst = true;
            if (!this.beginNameUtf8(b, NameSink.NONE)) return this.dead(tokens);
            this.u8Return = State.ENTITY_NAME;
            state = State.NAME_UTF8;
            pos++;
          } else {
            return this.die(tokens, NWF, TEXT_MALFORMED_REF);
          }
          break;
        }

        case State.ENTITY_NAME: {
          const b = buf[pos];
          const c = nameClass[b];
          if (c === NameClass.START || c === NameClass.CHAR || c === NameClass.COLON) {
            if (++this.refLength <= MAX_PREDEFINED_NAME) this.refPacked = this.refPacked * 256 + b;
            pos++;
          } else if (c === NameClass.NON_ASCII) {
            this.refLength = MAX_PREDEFINED_NAME + 1;
            this.nameFirst = false;
            if (!this.beginNameUtf8(b, NameSink.NONE)) return this.dead(tokens);
            this.u8Return = State.ENTITY_NAME;
            state = State.NAME_UTF8;
            pos++;
          } else if (b === 0x3b /* ; */) {
            if (!isPredefinedEntity(this.refPacked, this.refLength)) {
              return this.die(tokens, RESTRICTED, 'undefined entity (RFC 6120 §11.1)');
            }
            state = this.refReturn;
            pos++;
          } else {
            return this.die(tokens, NWF, TEXT_MALFORMED_REF);
          }
          break;
        }

        case State.CHARREF_START: {
          const b = buf[pos];
          if (b === 0x78 /* x */) {
            state = State.CHARREF_HEX_START;
          } else if (b >= 0x30 && b <= 0x39) {
            this.refValue = b - 0x30;
            state = State.CHARREF_DEC;
          } else {
            return this.die(tokens, NWF, 'malformed character reference');
          }
          pos++;
          break;
        }

        case State.CHARREF_HEX_START: {
          const digit = HEX_VALUE[buf[pos]];
          if (digit < 0) return this.die(tokens, NWF, 'malformed character reference');
          this.refValue = digit;
          state = State.CHARREF_HEX;
          pos++;
          break;
        }

        case State.CHARREF_DEC:
        case State.CHARREF_HEX: {
          const radix = state === State.CHARREF_HEX ? 16 : 10;
          let value = this.refValue;
          let b = 0;
          while (pos < end) {
            b = buf[pos];
            const digit = radix === 16 ? HEX_VALUE[b] : b >= 0x30 && b <= 0x39 ? b - 0x30 : -1;
            if (digit < 0) break;
            // Clamp: anything above U+10FFFF is equally invalid, and this keeps the number exact.
            value = Math.min(value * radix + digit, 0x110000);
            pos++;
          }
          this.refValue = value;
          if (pos >= end) break;
          if (b !== 0x3b /* ; */) return this.die(tokens, NWF, 'malformed character reference');
          if (!isXmlChar(value)) return this.die(tokens, NWF, 'character reference to a non-XML character');
          state = this.refReturn;
          pos++;
          break;
        }

        case State.NAME_UTF8: {
          pos = this.continueNameUtf8(buf, pos, end);
          if (pos < 0) return this.dead(tokens);
          if (this.u8Need === 0) state = this.u8Return;
          break;
        }

        case State.MSG_START: {
          // XML 1.0 §2.8: a message's declaration, if any, is its very first bytes; after leading
          // whitespace `<?xml` is a processing instruction with a reserved target, refused below.
          // (The server's stream stays lenient, DOC_START: a whitespace keepalive sent just before
          // the server read our restarted header lands right before its new `<?xml`, RFC 6120 §4.3.3.)
          // Kept apart from the states below so that the stanza-boundary loop pays nothing for it.
          const b = buf[pos];
          if (isWhitespace(b)) {
            state = State.MSG; // read there, not here
            break;
          }
          if (b !== 0x3c /* < */) return this.textError(tokens, state);
          this.beginConstruct(pos, state);
          end = Math.min(len, this.limitAbs - this.base);
          state = State.TOP_LT;
          pos++;
          break;
        }

        case State.DOC_START:
        case State.PROLOG:
        case State.STREAM:
        case State.AFTER_CLOSE:
        case State.MSG: {
          // Whitespace between constructs (keepalives) is skipped, never buffered.
          let b = 0;
          while (pos < end && isWhitespace((b = buf[pos]))) pos++;
          if (pos >= end) break;
          if (b !== 0x3c /* < */ || state === State.AFTER_CLOSE) return this.textError(tokens, state);
          this.beginConstruct(pos, state);
          end = Math.min(len, this.limitAbs - this.base);
          state = State.TOP_LT;
          pos++;
          break;
        }

        case State.TOP_LT: {
          const b = buf[pos];
          const c = nameClass[b];
          const top = this.topState;
          if (c === NameClass.START || c === NameClass.NON_ASCII) {
            // Before the stream header, the start tag is the header (depth 0); otherwise a top-level element.
            if (!this.openTag(top === State.DOC_START || top === State.PROLOG ? 0 : 1)) return this.dead(tokens);
            state = State.START_NAME;
          } else if (b === 0x2f /* / */) {
            if (top !== State.STREAM) return this.die(tokens, NWF, 'end tag without a matching start tag');
            this.limitWhat = 'stream end tag';
            this.beginEndTag(0);
            state = State.END_NAME;
            pos++;
          } else if (b === 0x3f /* ? */) {
            if (top !== State.DOC_START && top !== State.MSG_START) return this.die(tokens, RESTRICTED, TEXT_PI_OR_DECL);
            this.limitAbs = this.constructStart + Math.min(MAX_XML_DECL_BYTES, this.maxElementBytes);
            this.limitWhat = 'XML declaration';
            end = Math.min(len, this.limitAbs - this.base);
            this.piIndex = 0;
            state = State.PI_TARGET;
            pos++;
          } else if (b === 0x21 /* ! */) {
            state = State.TOP_BANG;
            pos++;
          } else {
            return this.die(tokens, NWF, "invalid character after '<'");
          }
          break;
        }

        case State.TOP_BANG: {
          const b = buf[pos];
          // `<![CDATA[` outside any element is character data there, not restricted markup.
          if (b === 0x5b /* [ */) return this.textError(tokens, this.topState);
          return this.die(tokens, RESTRICTED, b === 0x2d ? TEXT_COMMENT : TEXT_MARKUP);
        }

        case State.PI_TARGET: {
          const b = buf[pos];
          if (this.piIndex < 3) {
            // Only the declaration's target `xml` (lower case, XML 1.0 §2.8) may start here.
            if (b !== 'xml'.charCodeAt(this.piIndex)) return this.die(tokens, RESTRICTED, TEXT_PI);
            this.piIndex++;
          } else if (isWhitespace(b)) {
            state = State.DECL;
          } else if (b === 0x3f /* ? */) {
            state = State.DECL_Q;
          } else {
            return this.die(tokens, RESTRICTED, TEXT_PI);
          }
          pos++;
          break;
        }

        case State.DECL:
        case State.DECL_Q: {
          const b = buf[pos];
          if (b === 0x3e /* > */ && state === State.DECL_Q) {
            const error = this.checkXmlDeclaration(buf, pos);
            if (error !== null) return this.die(tokens, NWF, error);
            state = this.topState === State.DOC_START ? State.PROLOG : State.MSG;
            this.endConstruct();
            end = len;
          } else if (b === 0x3f /* ? */) {
            state = State.DECL_Q;
          } else if (b >= 0x80 || (b < 0x20 && !isWhitespace(b))) {
            return this.die(tokens, NWF, 'malformed XML declaration');
          } else {
            state = State.DECL;
          }
          pos++;
          break;
        }

        default:
          // State.DEAD is never reached: a dead tokenizer returns before the loop.
          return this.die(tokens, NWF, 'internal tokenizer state');
      }
    }

    this.state = state;
    if (this.inConstruct) this.appendPending(buf, this.copyFrom, len);
    this.base += len;
    return { tokens, error: null };
  }

  /**
   * Ends one WebSocket message (fragment mode) or the byte stream (stream mode). Returns an error
   * if an element, header or declaration is incomplete; the tokenizer is then dead. Otherwise, in
   * fragment mode, the tokenizer is ready for the next message.
   */
  end(): TokenizerError | null {
    if (this.error !== null) return this.error;
    if (this.inConstruct) {
      const state = this.state;
      const what =
        state === State.PI_TARGET || state === State.DECL || state === State.DECL_Q
          ? 'XML declaration'
          : this.depth === 0 && (this.topState === State.DOC_START || this.topState === State.PROLOG)
            ? 'stream header'
            : 'element';
      this.die([], NWF, `incomplete ${what} at end of ${this.fragment ? 'message' : 'stream'}`);
      return this.error;
    }
    if (this.fragment) {
      this.state = State.MSG_START;
      this.topState = State.MSG_START;
    }
    return null;
  }

  /**
   * Stream mode: the next input is a new document (optional `<?xml …?>`, then a new stream
   * header), as after a stream restart (RFC 6120 §4.3.3). Every complete token has already been
   * returned by feed(); an element still incomplete can never complete and is dropped.
   * Fragment mode: drops any incomplete element and waits for the start of a new message.
   */
  restart(): void {
    if (this.error !== null) return;
    this.state = this.fragment ? State.MSG_START : State.DOC_START;
    this.topState = this.state;
    this.depth = 0;
    this.nameTop = 0;
    this.declaredCount = 0;
    this.declaredIndex = null;
    this.u8Need = 0;
    this.endConstruct();
  }

  // ---------------------------------------------------------------------------------------------
  // Constructs and the pending buffer

  private beginConstruct(pos: number, topState: number): void {
    this.inConstruct = true;
    this.topState = topState;
    this.constructStart = this.base + pos;
    this.copyFrom = pos;
    this.limitAbs = this.constructStart + this.maxElementBytes;
    this.limitWhat = topState === State.DOC_START || topState === State.PROLOG ? 'stream header' : 'element';
  }

  private limitText(): string {
    return this.limitWhat === 'XML declaration' ? 'XML declaration too long' : `${this.limitWhat} exceeds ${this.maxElementBytes} bytes`;
  }

  private endConstruct(): void {
    this.inConstruct = false;
    this.limitAbs = Infinity;
    this.pendingLen = 0;
    if (this.pending.length > PENDING_KEEP_BYTES) this.pending = EMPTY_BUFFER;
    // Scratch grown by a tag with many attributes is not kept for the session's lifetime either.
    if (this.attrSeen.length !== 0 || this.attrNames.length > PENDING_KEEP_BYTES) this.releaseAttributeScratch();
  }

  /** Takes the shared scratch (see `shared`), putting the open stream root's name back on the name stack. */
  private borrowScratch(): void {
    this.pending = shared.pending;
    this.nameStack = shared.nameStack;
    this.nameStarts = shared.nameStarts;
    this.nameEnds = shared.nameEnds;
    this.nsMarks = shared.nsMarks;
    this.attrNames = shared.attrNames;
    this.attrNameStarts = shared.attrNameStarts;
    // Taken, not shared: if this chunk ends inside a construct, this tokenizer keeps them.
    shared.pending = shared.nameStack = shared.attrNames = EMPTY_BUFFER;
    shared.nameStarts = shared.nameEnds = shared.nsMarks = shared.attrNameStarts = EMPTY_INT32;
    const rootLength = this.nameTop;
    if (rootLength === 0) return;
    this.nameStack = grownBuffer(this.nameStack, 0, rootLength);
    this.nameStack.write(this.rootName, 0, rootLength, 'utf8');
    if (this.nameStarts.length < 2) {
      this.nameStarts = grownInt32(this.nameStarts, 2);
      this.nameEnds = grownInt32(this.nameEnds, 2);
      this.nsMarks = grownInt32(this.nsMarks, 2);
    }
    this.nameStarts[0] = 0;
    this.nameEnds[0] = rootLength;
  }

  /** Between constructs nothing in the scratch is needed: hand it on, keep none. */
  private returnScratch(): void {
    shared.pending = this.pending;
    shared.nameStack = this.nameStack;
    shared.nameStarts = this.nameStarts;
    shared.nameEnds = this.nameEnds;
    shared.nsMarks = this.nsMarks;
    shared.attrNames = this.attrNames;
    shared.attrNameStarts = this.attrNameStarts;
    this.pending = this.nameStack = this.attrNames = EMPTY_BUFFER;
    this.nameStarts = this.nameEnds = this.nsMarks = this.attrNameStarts = EMPTY_INT32;
  }

  private releaseAttributeScratch(): void {
    this.attrSeen = EMPTY_INT32;
    this.attrSeenStamp = EMPTY_INT32;
    if (this.attrNames.length > PENDING_KEEP_BYTES) this.attrNames = EMPTY_BUFFER;
    if (this.attrNameStarts.length > LINEAR_ATTRIBUTES * 4) this.attrNameStarts = EMPTY_INT32;
  }

  private appendPending(buf: Buffer, from: number, to: number): void {
    const count = to - from;
    if (count <= 0) return;
    this.pending = grownBuffer(this.pending, this.pendingLen, this.pendingLen + count);
    buf.copy(this.pending, this.pendingLen, from, to);
    this.pendingLen += count;
  }

  /** The current construct's bytes up to and including `buf[last]`: a view if it lies in `buf`, else a copy. */
  private constructBytes(buf: Buffer, last: number): Buffer {
    if (this.pendingLen === 0) return buf.subarray(this.copyFrom, last + 1);
    const bytes = Buffer.allocUnsafe(this.pendingLen + last + 1 - this.copyFrom);
    this.pending.copy(bytes, 0, 0, this.pendingLen);
    buf.copy(bytes, this.pendingLen, this.copyFrom, last + 1);
    return bytes;
  }

  // ---------------------------------------------------------------------------------------------
  // Tags

  /** Starts the start tag of an element at depth `depth` (0: stream header). */
  private openTag(depth: number): boolean {
    if (depth > this.maxDepth) return this.setError(POLICY, `element nesting exceeds ${this.maxDepth} levels`);
    this.depth = depth;
    if (depth + 1 >= this.nameStarts.length) {
      this.nameStarts = grownInt32(this.nameStarts, depth + 2);
      this.nameEnds = grownInt32(this.nameEnds, depth + 2);
      this.nsMarks = grownInt32(this.nsMarks, depth + 2);
    }
    this.nameStarts[depth] = this.nameTop;
    this.nsMarks[depth] = this.declaredCount;
    this.nameFirst = true;
    this.nameColon = -1;
    this.attrCount = 0;
    this.attrNamesTop = 0;
    this.tagDecodeValues = false;
    this.elementPrefix = '';
    // Writing `length` is a runtime call even when it changes nothing.
    if (this.usedPrefixes.length !== 0) this.usedPrefixes.length = 0;
    if (depth === 1) {
      this.outerPrefixes = null;
      this.outerSeen = null;
    }
    return true;
  }

  private endElementName(): boolean {
    const depth = this.depth;
    const start = this.nameStarts[depth];
    this.nameEnds[depth] = this.nameTop;
    const colon = this.nameColon;
    if (colon >= 0) {
      const stack = this.nameStack;
      if (isXmlns(stack, start, start + colon)) {
        return this.setError(NWF, "element names cannot use the 'xmlns' prefix");
      }
      this.elementPrefix = isXml(stack, start, start + colon)
        ? null
        : decodeName(stack, start, start + colon);
    }
    return true;
  }

  private beginAttribute(): boolean {
    const index = this.attrCount;
    if (index >= this.maxAttributes) {
      return this.setError(POLICY, `more than ${this.maxAttributes} attributes on one element`);
    }
    this.attrNameStarts = grownInt32(this.attrNameStarts, index + 2);
    this.attrNameStarts[index] = this.attrNamesTop;
    this.attrCount = index + 1;
    this.nameFirst = true;
    this.nameColon = -1;
    this.attrKind = AttrKind.PLAIN;
    return true;
  }

  private endAttributeName(): boolean {
    const names = this.attrNames;
    const index = this.attrCount - 1;
    const start = this.attrNameStarts[index];
    const end = this.attrNamesTop;
    this.attrNameStarts[index + 1] = end;
    // Duplicates (XML 1.0 §3.1 "Unique Att Spec"). A stanza has a handful of attributes: compare
    // with each earlier one. Past LINEAR_ATTRIBUTES, a hash set keeps the whole tag linear, so only
    // the element size limit bounds how many attributes a tag may have.
    if (index < LINEAR_ATTRIBUTES) {
      for (let i = 0; i < index; i++) {
        if (this.sameAttrName(i, start, end)) return this.setError(NWF, 'duplicate attribute');
      }
    } else {
      if (index === LINEAR_ATTRIBUTES || 2 * (index + 1) > this.attrSeen.length) this.indexAttributes(index);
      if (!this.addAttrName(index)) return this.setError(NWF, 'duplicate attribute');
    }
    const colon = this.nameColon;
    if (colon < 0) {
      if (isXmlns(names, start, end)) {
        this.declare('');
        this.attrKind = AttrKind.DEFAULT_DECL;
      }
    } else if (isXmlns(names, start, start + colon)) {
      const prefix = decodeName(names, start + colon + 1, end);
      if (prefix === 'xmlns') return this.setError(NWF, "the 'xmlns' prefix cannot be declared");
      this.declare(prefix);
      this.attrKind = prefix === 'xml' ? AttrKind.XML_DECL : AttrKind.PREFIX_DECL;
    } else if (!isXml(names, start, start + colon)) {
      this.usedPrefixes.push(decodeName(names, start, start + colon));
    }
    return true;
  }

  /** Whether attribute `i`'s name equals `attrNames[start, end)`. */
  private sameAttrName(i: number, start: number, end: number): boolean {
    const names = this.attrNames;
    const otherStart = this.attrNameStarts[i];
    const length = end - start;
    if (this.attrNameStarts[i + 1] - otherStart !== length) return false;
    for (let k = 0; k < length; k++) if (names[otherStart + k] !== names[start + k]) return false;
    return true;
  }

  /**
   * Starts (or regrows) the hash set with this tag's attributes before `count`, which are known to
   * be distinct. Growth doubles the table, so re-adding stays linear over the tag.
   */
  private indexAttributes(count: number): void {
    let size = this.attrSeen.length;
    if (size < 4 * (count + 1)) {
      size = Math.max(64, size);
      while (size < 4 * (count + 1)) size *= 2;
      this.attrSeen = new Int32Array(size);
      this.attrSeenStamp = new Int32Array(size);
      this.attrStamp = 0;
    }
    // A fresh stamp empties the set; on wrap-around, clear the stamps for real.
    if (++this.attrStamp === 0x7fffffff) {
      this.attrSeenStamp.fill(0);
      this.attrStamp = 1;
    }
    for (let i = 0; i < count; i++) this.addAttrName(i);
  }

  /** Adds attribute `index` to the hash set; false if an equal name is already there. */
  private addAttrName(index: number): boolean {
    const names = this.attrNames;
    const start = this.attrNameStarts[index];
    const end = this.attrNameStarts[index + 1];
    // FNV-1a over the name's bytes.
    let h = 0x811c9dc5;
    for (let k = start; k < end; k++) h = Math.imul(h ^ names[k], 0x01000193);
    const seen = this.attrSeen;
    const stamps = this.attrSeenStamp;
    const stamp = this.attrStamp;
    const mask = seen.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      if (stamps[slot] !== stamp) {
        stamps[slot] = stamp;
        seen[slot] = index;
        return true;
      }
      if (this.sameAttrName(seen[slot], start, end)) return false;
    }
  }

  private endAttributeValue(buf: Buffer, pos: number): boolean {
    const kind = this.attrKind;
    if (kind === AttrKind.PLAIN) return true;
    const length = this.base + pos - this.valueStart;
    if (kind !== AttrKind.DEFAULT_DECL && length === 0) {
      return this.setError(NWF, 'namespace prefix declared with an empty name');
    }
    // Namespaces in XML 1.0 §3: `xml` is bound to the XML namespace and nothing else is; no prefix
    // (nor the default) is bound to the xmlns namespace. Only values of these lengths, or with
    // references, can name one, so ordinary declarations cost a comparison of lengths.
    if (kind === AttrKind.XML_DECL) {
      if (!this.valueEquals(buf, pos, XML_NS)) return this.setError(NWF, "the 'xml' prefix can only be bound to the XML namespace");
    } else if (this.valueRefs || length === XML_NS.length || length === XMLNS_NS.length) {
      if (this.valueEquals(buf, pos, XML_NS) || this.valueEquals(buf, pos, XMLNS_NS)) {
        return this.setError(NWF, 'a reserved namespace name is bound to another prefix');
      }
    }
    return true;
  }

  /** Whether the attribute value ending at `buf[pos]`, references decoded, is `name`. Rare path. */
  private valueEquals(buf: Buffer, pos: number, name: Buffer): boolean {
    const start = this.valueStart;
    // The construct's bytes before this chunk's copyFrom are in `pending`, from constructStart.
    const copied = this.base + this.copyFrom;
    const raw =
      start >= copied
        ? buf.subarray(start - this.base, pos)
        : Buffer.concat([this.pending.subarray(start - this.constructStart, this.pendingLen), buf.subarray(this.copyFrom, pos)]);
    if (!this.valueRefs) return raw.equals(name);
    return decodeAttributeValue(raw.toString('utf8')) === name.toString('latin1');
  }

  /**
   * The `>` of a start tag is at `buf[pos]`. Resolves the tag's prefixes, emits what is complete
   * and returns the next state (-1: error).
   */
  private endStartTag(buf: Buffer, pos: number, empty: boolean, tokens: Token[]): number {
    const depth = this.depth;
    if (!this.resolvePrefixes(depth)) return -1;
    if (depth > 1) return empty ? this.closeElement(buf, pos, tokens) : State.CONTENT;
    const nameStart = this.nameStarts[depth];
    const nameEnd = this.nameEnds[depth];
    this.topName = decodeName(this.nameStack, nameStart, nameEnd);
    this.topNameEnd = 1 + nameEnd - nameStart;
    this.topHasAttrs = this.attrCount !== 0;
    this.topTagLength = this.base + pos + 1 - this.constructStart;
    this.topDecodeValues = this.tagDecodeValues;
    if (depth === 1) return empty ? this.closeElement(buf, pos, tokens) : State.CONTENT;
    // The stream header. Its declarations are the stream's, not part of any top-level element.
    const bytes = this.constructBytes(buf, pos);
    tokens.push({
      kind: 'stream-open',
      name: this.topName,
      attrs: this.topHasAttrs
        ? readAttributes(utf8(bytes, 0, bytes.length), 1 + this.topName.length, this.topDecodeValues)
        : NO_ATTRIBUTES,
      bytes,
    });
    this.declaredCount = 0;
    this.declaredIndex = null;
    this.nameTop = nameEnd;
    this.rootName = this.topName;
    this.endConstruct();
    if (empty) {
      tokens.push({ kind: 'stream-close' });
      return State.AFTER_CLOSE;
    }
    return State.STREAM;
  }

  /**
   * Checks that every prefix the tag uses is declared on it or an enclosing element of the
   * construct. The header must declare its own prefixes; a top-level element's undeclared
   * prefixes are outer prefixes (stream mode) or an error (fragment mode). An unprefixed element
   * name outside any `xmlns='…'` of the construct relies on the outer default namespace: `''`.
   */
  private resolvePrefixes(depth: number): boolean {
    const prefix = this.elementPrefix;
    if (prefix !== null && !this.resolvePrefix(prefix, depth)) return false;
    const used = this.usedPrefixes;
    for (let i = 0; i < used.length; i++) {
      if (!this.resolvePrefix(used[i], depth)) return false;
    }
    return true;
  }

  private resolvePrefix(prefix: string, depth: number): boolean {
    if (this.isDeclared(prefix)) return true;
    if (prefix === '') {
      // No default namespace in scope: fine for the header (no namespace); inherited otherwise.
      if (depth !== 0) this.addOuterPrefix(prefix);
      return true;
    }
    if (depth === 0) return this.setError(NWF, 'stream header uses an undeclared namespace prefix');
    if (this.fragment) return this.setError(NWF, 'unbound namespace prefix');
    this.addOuterPrefix(prefix);
    return true;
  }

  private isDeclared(prefix: string): boolean {
    const index = this.declaredIndex;
    if (index !== null) return index.has(prefix);
    const declared = this.declaredPrefixes;
    for (let i = this.declaredCount - 1; i >= 0; i--) if (declared[i] === prefix) return true;
    return false;
  }

  private declare(prefix: string): void {
    this.declaredPrefixes[this.declaredCount++] = prefix;
    const index = this.declaredIndex;
    if (index !== null) {
      index.set(prefix, (index.get(prefix) ?? 0) + 1);
    } else if (this.declaredCount > LINEAR_PREFIXES) {
      const built = new Map<string, number>();
      const declared = this.declaredPrefixes;
      for (let i = 0; i < this.declaredCount; i++) built.set(declared[i], (built.get(declared[i]) ?? 0) + 1);
      this.declaredIndex = built;
    }
  }

  /** Drops the declarations made at or below the closed element: back to `mark` live ones. */
  private undeclareTo(mark: number): void {
    const index = this.declaredIndex;
    if (index !== null) {
      if (mark <= LINEAR_PREFIXES) {
        this.declaredIndex = null;
      } else {
        const declared = this.declaredPrefixes;
        for (let i = mark; i < this.declaredCount; i++) {
          const left = index.get(declared[i])! - 1;
          if (left === 0) index.delete(declared[i]);
          else index.set(declared[i], left);
        }
      }
    }
    this.declaredCount = mark;
  }

  private addOuterPrefix(prefix: string): void {
    const outer = this.outerPrefixes;
    if (outer === null) {
      this.outerPrefixes = [prefix];
    } else if (this.outerSeen !== null) {
      if (!this.outerSeen.has(prefix)) {
        this.outerSeen.add(prefix);
        outer.push(prefix);
      }
    } else if (!outer.includes(prefix)) {
      outer.push(prefix);
      if (outer.length > LINEAR_PREFIXES) this.outerSeen = new Set(outer);
    }
  }

  private beginEndTag(depth: number): void {
    this.endPos = this.nameStarts[depth];
    this.endStop = this.nameEnds[depth];
  }

  /** The `>` closing the element at `this.depth` is at `buf[pos]`; returns the next state. */
  private closeElement(buf: Buffer, pos: number, tokens: Token[]): number {
    const depth = this.depth;
    if (depth === 0) {
      // The stream's end tag.
      tokens.push({ kind: 'stream-close' });
      this.nameTop = 0;
      this.endConstruct();
      return State.AFTER_CLOSE;
    }
    this.undeclareTo(this.nsMarks[depth]);
    this.nameTop = this.nameStarts[depth];
    this.depth = depth - 1;
    if (depth > 1) return State.CONTENT;
    // After a message's first element, a declaration is no longer allowed.
    const next = this.topState === State.MSG_START ? State.MSG : this.topState;
    const outer = this.outerPrefixes;
    tokens.push(
      new LazyElementToken(
        this.constructBytes(buf, pos),
        this.topName,
        this.topNameEnd,
        outer === null ? NO_PREFIXES : outer.length === 1 && outer[0] === '' ? DEFAULT_PREFIX_ONLY : outer,
        this.topHasAttrs,
        this.topTagLength,
        this.topDecodeValues,
      ),
    );
    this.endConstruct();
    return next;
  }

  /** Validates the XML declaration that ends at `buf[pos]`; returns an error text or null. */
  private checkXmlDeclaration(buf: Buffer, pos: number): string | null {
    const text = this.constructBytes(buf, pos).toString('latin1');
    const match = XML_DECL.exec(text);
    if (match === null) return 'malformed XML declaration';
    const encoding = match[1] ?? match[2];
    // RFC 6120 §11.6: XMPP is UTF-8 only.
    if (encoding !== undefined && encoding.toLowerCase() !== 'utf-8') {
      return 'XML declaration: encoding must be UTF-8 (RFC 6120 §11.6)';
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // UTF-8

  /**
   * Validates the UTF-8 sequence whose lead byte is `buf[pos]` in text, CDATA or an attribute
   * value. Returns the position after it, or -1 on error. If the sequence is cut by `end`, sets
   * `u8Need` and returns `pos + 1`; the caller then switches to State.UTF8.
   */
  private skipUtf8(buf: Buffer, pos: number, end: number): number {
    const lead = buf[pos];
    const need = UTF8_NEED[lead];
    if (need === 0) return this.utf8Error(utf8LeadError(lead));
    if (pos + need < end) {
      const b1 = buf[pos + 1];
      if (b1 < UTF8_LO[lead] || b1 > UTF8_HI[lead]) return this.utf8Error(utf8ContinuationError(lead, b1, 1));
      if (need === 1) return pos + 2;
      const b2 = buf[pos + 2];
      if ((b2 & 0xc0) !== 0x80) return this.utf8Error(utf8ContinuationError(lead, b2, 2));
      if (need === 2) {
        if (lead === 0xef && b1 === 0xbf && b2 >= 0xbe) return this.utf8Error(UTF8_NONCHAR_TEXT);
        return pos + 3;
      }
      const b3 = buf[pos + 3];
      if ((b3 & 0xc0) !== 0x80) return this.utf8Error(utf8ContinuationError(lead, b3, 3));
      return pos + 4;
    }
    this.beginUtf8(lead, need);
    return pos + 1;
  }

  private beginUtf8(lead: number, need: number): void {
    this.u8Need = need;
    this.u8Lo = UTF8_LO[lead];
    this.u8Hi = UTF8_HI[lead];
    this.u8Lead = lead;
    this.u8Index = 1;
    this.u8Cp = UTF8_LEAD_BITS[lead];
  }

  /** Reads continuation bytes of the sequence begun by beginUtf8; same checks, same order as skipUtf8. */
  private continueUtf8(buf: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const b = buf[pos];
      if (b < this.u8Lo || b > this.u8Hi) return this.utf8Error(utf8ContinuationError(this.u8Lead, b, this.u8Index));
      this.u8Cp = (this.u8Cp << 6) | (b & 0x3f);
      this.u8Lo = 0x80;
      this.u8Hi = 0xbf;
      this.u8Index++;
      pos++;
      if (--this.u8Need === 0) {
        if (this.u8Cp === 0xfffe || this.u8Cp === 0xffff) return this.utf8Error(UTF8_NONCHAR_TEXT);
        break;
      }
    }
    return pos;
  }

  /** Starts a non-ASCII character of a name with lead byte `lead`, copying it to `sink`. */
  private beginNameUtf8(lead: number, sink: number): boolean {
    const need = UTF8_NEED[lead];
    if (need === 0) return this.setError(NWF, utf8LeadError(lead));
    this.beginUtf8(lead, need);
    this.nameSink = sink;
    this.sinkByte(lead);
    return true;
  }

  /** Continuation bytes of a name character; checks the character against NameStartChar/NameChar. */
  private continueNameUtf8(buf: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const b = buf[pos];
      if (b < this.u8Lo || b > this.u8Hi) return this.utf8Error(utf8ContinuationError(this.u8Lead, b, this.u8Index));
      this.u8Cp = (this.u8Cp << 6) | (b & 0x3f);
      this.u8Lo = 0x80;
      this.u8Hi = 0xbf;
      this.u8Index++;
      this.sinkByte(b);
      pos++;
      if (--this.u8Need === 0) {
        const cp = this.u8Cp;
        if (this.nameFirst ? !isNameStartCodePoint(cp) : !isNameCodePoint(cp)) {
          this.setError(NWF, 'invalid character in name');
          return -1;
        }
        this.nameFirst = false;
        break;
      }
    }
    return pos;
  }

  private sinkByte(b: number): void {
    if (this.nameSink === NameSink.ELEMENT) {
      this.nameStack = grownBuffer(this.nameStack, this.nameTop, this.nameTop + 1);
      this.nameStack[this.nameTop++] = b;
    } else if (this.nameSink === NameSink.ATTR) {
      this.attrNames = grownBuffer(this.attrNames, this.attrNamesTop, this.attrNamesTop + 1);
      this.attrNames[this.attrNamesTop++] = b;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Errors

  private utf8Error(text: string): number {
    this.setError(NWF, text);
    return -1;
  }

  /** Records the error (the first one wins) and returns false, so callers can `return this.setError(…)`. */
  private setError(condition: TokenizerCondition, text: string): false {
    if (this.error === null) this.error = Object.freeze({ condition, text });
    return false;
  }

  private textError(tokens: Token[], topState: number): FeedResult {
    if (topState === State.STREAM) return this.die(tokens, BAD_FORMAT, 'text is not allowed between stanzas');
    if (topState === State.AFTER_CLOSE) return this.die(tokens, NWF, 'data after the end of the stream');
    if (topState === State.MSG || topState === State.MSG_START) return this.die(tokens, NWF, 'text outside an element');
    return this.die(tokens, NWF, 'text before the stream header');
  }

  private die(tokens: Token[], condition: TokenizerCondition, text: string): FeedResult {
    this.setError(condition, text);
    return this.dead(tokens);
  }

  /** Ends the tokenizer after an error recorded by setError. */
  private dead(tokens: Token[]): FeedResult {
    this.state = State.DEAD;
    this.inConstruct = false;
    this.pending = EMPTY_BUFFER;
    this.pendingLen = 0;
    return { tokens, error: this.error };
  }
}
