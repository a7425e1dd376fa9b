/**
 * Byte and code point classes of XML 1.0 (Fifth Edition) used by the tokenizer. Pure tables, no state.
 *
 * The tables are indexed by one input byte. Every byte ≥ 0x80 maps to a "non-ASCII" class: the
 * tokenizer decodes those as UTF-8 (./utf8.ts) and checks the code point with the functions below.
 */

/**
 * Byte classes of the text-scanning tables. PLAIN (0) always means "keep scanning", so a hot loop
 * can test `!== 0`. A `const enum`, so the compiled tokenizer compares against literals.
 */
export const enum ByteClass {
  PLAIN = 0,
  LT = 1,
  AMP = 2,
  RBRACKET = 3,
  QUOTE = 4,
  /** A C0 control other than tab, line feed and carriage return: never an XML Char (XML 1.0 §2.2). */
  CONTROL = 5,
  /** A byte ≥ 0x80: the lead (or a stray continuation) of a UTF-8 sequence. */
  NON_ASCII = 6,
  /** Attribute values only: tab, line feed, carriage return (a space once decoded, XML 1.0 §3.3.3). */
  ATTR_WS = 7,
}

function baseTable(): Uint8Array {
  const table = new Uint8Array(256);
  for (let b = 0; b < 0x20; b++) table[b] = ByteClass.CONTROL;
  table[0x09] = ByteClass.PLAIN;
  table[0x0a] = ByteClass.PLAIN;
  table[0x0d] = ByteClass.PLAIN;
  for (let b = 0x80; b < 0x100; b++) table[b] = ByteClass.NON_ASCII;
  return table;
}

/** Character data inside an element: stops at `<`, `&` and `]` (for `]]>`). `>` is plain. */
export const TEXT_CLASS: Uint8Array = (() => {
  const table = baseTable();
  table[0x3c] = ByteClass.LT;
  table[0x26] = ByteClass.AMP;
  table[0x5d] = ByteClass.RBRACKET;
  return table;
})();

/** Inside `<![CDATA[ … ]]>`: only `]` (for `]]>`) is special. */
export const CDATA_CLASS: Uint8Array = (() => {
  const table = baseTable();
  table[0x5d] = ByteClass.RBRACKET;
  return table;
})();

function attrTable(quote: number): Uint8Array {
  const table = baseTable();
  table[0x3c] = ByteClass.LT;
  table[0x26] = ByteClass.AMP;
  table[quote] = ByteClass.QUOTE;
  table[0x09] = ByteClass.ATTR_WS;
  table[0x0a] = ByteClass.ATTR_WS;
  table[0x0d] = ByteClass.ATTR_WS;
  return table;
}

/** Attribute value delimited by `"`: `'` and `>` are plain. */
export const ATTR_DQ_CLASS: Uint8Array = attrTable(0x22);
/** Attribute value delimited by `'`: `"` and `>` are plain. */
export const ATTR_SQ_CLASS: Uint8Array = attrTable(0x27);

/** Name byte classes (ASCII only; every byte ≥ 0x80 is NON_ASCII). */
export const enum NameClass {
  OTHER = 0,
  /** NameStartChar: `A-Z`, `a-z`, `_`. */
  START = 1,
  /** NameChar but not NameStartChar: `0-9`, `-`, `.`. */
  CHAR = 2,
  COLON = 3,
  NON_ASCII = 4,
}

export const NAME_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let b = 0x41; b <= 0x5a; b++) table[b] = NameClass.START;
  for (let b = 0x61; b <= 0x7a; b++) table[b] = NameClass.START;
  table[0x5f] = NameClass.START;
  for (let b = 0x30; b <= 0x39; b++) table[b] = NameClass.CHAR;
  table[0x2d] = NameClass.CHAR;
  table[0x2e] = NameClass.CHAR;
  table[0x3a] = NameClass.COLON;
  for (let b = 0x80; b < 0x100; b++) table[b] = NameClass.NON_ASCII;
  return table;
})();

/** XML 1.0 §2.3 `S`: space, tab, line feed, carriage return. */
export function isWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;
}

/** XML 1.0 §2.3 NameStartChar, for code points ≥ 0x80 (the ASCII part is in NAME_CLASS). */
export function isNameStartCodePoint(cp: number): boolean {
  return (
    (cp >= 0xc0 && cp <= 0xd6) ||
    (cp >= 0xd8 && cp <= 0xf6) ||
    (cp >= 0xf8 && cp <= 0x2ff) ||
    (cp >= 0x370 && cp <= 0x37d) ||
    (cp >= 0x37f && cp <= 0x1fff) ||
    (cp >= 0x200c && cp <= 0x200d) ||
    (cp >= 0x2070 && cp <= 0x218f) ||
    (cp >= 0x2c00 && cp <= 0x2fef) ||
    (cp >= 0x3001 && cp <= 0xd7ff) ||
    (cp >= 0xf900 && cp <= 0xfdcf) ||
    (cp >= 0xfdf0 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0xeffff)
  );
}

/** XML 1.0 §2.3 NameChar, for code points ≥ 0x80. */
export function isNameCodePoint(cp: number): boolean {
  return (
    isNameStartCodePoint(cp) ||
    cp === 0xb7 ||
    (cp >= 0x300 && cp <= 0x36f) ||
    (cp >= 0x203f && cp <= 0x2040)
  );
}

/** XML 1.0 §2.2 Char: what a character reference may denote. */
export function isXmlChar(cp: number): boolean {
  return (
    (cp >= 0x20 && cp <= 0xd7ff) ||
    cp === 0x09 ||
    cp === 0x0a ||
    cp === 0x0d ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}
