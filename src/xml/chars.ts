/**
 * Byte and code point classes of XML 1.0 (Fifth Edition) used by the tokenizer. Pure tables, no state.
 *
 * The tables are indexed by one input byte. Every byte ≥ 0x80 maps to a "non-ASCII" class: the
 * tokenizer decodes those as UTF-8 (./utf8.ts) and checks the code point with the functions below.
 */

/** Byte classes of the text-scanning tables. 0 is always "plain: keep scanning". */
export const C_PLAIN = 0;
export const C_LT = 1;
export const C_AMP = 2;
export const C_RBRACKET = 3;
export const C_QUOTE = 4;
/** A C0 control other than tab, line feed and carriage return: never an XML Char (XML 1.0 §2.2). */
export const C_CONTROL = 5;
/** A byte ≥ 0x80: the lead (or a stray continuation) of a UTF-8 sequence. */
export const C_NON_ASCII = 6;
/** Attribute values only: tab, line feed, carriage return (normalized to a space when decoded, XML 1.0 §3.3.3). */
export const C_ATTR_WS = 7;

function baseTable(): Uint8Array {
  const table = new Uint8Array(256);
  for (let b = 0; b < 0x20; b++) table[b] = C_CONTROL;
  table[0x09] = C_PLAIN;
  table[0x0a] = C_PLAIN;
  table[0x0d] = C_PLAIN;
  for (let b = 0x80; b < 0x100; b++) table[b] = C_NON_ASCII;
  return table;
}

/** Character data inside an element: stops at `<`, `&` and `]` (for `]]>`). `>` is plain. */
export const TEXT_CLASS: Uint8Array = (() => {
  const table = baseTable();
  table[0x3c] = C_LT;
  table[0x26] = C_AMP;
  table[0x5d] = C_RBRACKET;
  return table;
})();

/** Inside `<![CDATA[ … ]]>`: only `]` (for `]]>`) is special. */
export const CDATA_CLASS: Uint8Array = (() => {
  const table = baseTable();
  table[0x5d] = C_RBRACKET;
  return table;
})();

function attrTable(quote: number): Uint8Array {
  const table = baseTable();
  table[0x3c] = C_LT;
  table[0x26] = C_AMP;
  table[quote] = C_QUOTE;
  table[0x09] = C_ATTR_WS;
  table[0x0a] = C_ATTR_WS;
  table[0x0d] = C_ATTR_WS;
  return table;
}

/** Attribute value delimited by `"`: `'` and `>` are plain. */
export const ATTR_DQ_CLASS: Uint8Array = attrTable(0x22);
/** Attribute value delimited by `'`: `"` and `>` are plain. */
export const ATTR_SQ_CLASS: Uint8Array = attrTable(0x27);

/** Name byte classes (ASCII only; every byte ≥ 0x80 is N_NON_ASCII). */
export const N_OTHER = 0;
/** NameStartChar: `A-Z`, `a-z`, `_`. */
export const N_START = 1;
/** NameChar but not NameStartChar: `0-9`, `-`, `.`. */
export const N_CHAR = 2;
export const N_COLON = 3;
export const N_NON_ASCII = 4;

export const NAME_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let b = 0x41; b <= 0x5a; b++) table[b] = N_START;
  for (let b = 0x61; b <= 0x7a; b++) table[b] = N_START;
  table[0x5f] = N_START;
  for (let b = 0x30; b <= 0x39; b++) table[b] = N_CHAR;
  table[0x2d] = N_CHAR;
  table[0x2e] = N_CHAR;
  table[0x3a] = N_COLON;
  for (let b = 0x80; b < 0x100; b++) table[b] = N_NON_ASCII;
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
