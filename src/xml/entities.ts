/**
 * Entity and character references (XML 1.0 §4.1, §4.6), attribute-value normalization (§3.3.3),
 * and reading the attributes of a start tag. Pure functions; the tokenizer has already checked
 * the syntax of everything passed in here.
 */
import type { Attribute } from './tokens';

/**
 * The five predefined entities, keyed by their name packed big-endian into one number
 * (`lt` → 0x6c74). Names longer than four bytes are never predefined, so they are not packed.
 */
const PREDEFINED: ReadonlyMap<number, string> = new Map([
  [0x6c74, '<'], // lt
  [0x6774, '>'], // gt
  [0x616d70, '&'], // amp
  [0x71756f74, '"'], // quot
  [0x61706f73, "'"], // apos
]);

/** Longest predefined entity name, in bytes. */
export const MAX_PREDEFINED_NAME = 4;

/** Whether a packed entity name (see PREDEFINED) of `length` bytes is one of the five. */
export function isPredefinedEntity(packed: number, length: number): boolean {
  return length <= MAX_PREDEFINED_NAME && PREDEFINED.has(packed);
}

function packName(name: string): number {
  let packed = 0;
  for (let i = 0; i < name.length; i++) packed = packed * 256 + name.charCodeAt(i);
  return packed;
}

/**
 * Decodes an attribute value as written between the quotes: references are replaced and each
 * literal tab, line feed or carriage return becomes a space (`\r\n` counts as one line end), as
 * XML 1.0 §3.3.3 requires. The value must already be well-formed (the tokenizer checked it).
 */
export function decodeAttributeValue(raw: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x26 /* & */) {
      const semi = raw.indexOf(';', i);
      out += raw.slice(from, i);
      if (raw.charCodeAt(i + 1) === 0x23 /* # */) {
        const hex = raw.charCodeAt(i + 2) === 0x78; /* x */
        out += String.fromCodePoint(parseInt(raw.slice(i + (hex ? 3 : 2), semi), hex ? 16 : 10));
      } else {
        out += PREDEFINED.get(packName(raw.slice(i + 1, semi))) ?? '';
      }
      i = semi;
      from = semi + 1;
    } else if (c === 0x0d /* \r */) {
      out += raw.slice(from, i) + ' ';
      if (raw.charCodeAt(i + 1) === 0x0a) i++;
      from = i + 1;
    } else if (c === 0x0a || c === 0x09) {
      out += raw.slice(from, i) + ' ';
      from = i + 1;
    }
  }
  return from === 0 ? raw : out + raw.slice(from);
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;

/**
 * The attributes of a well-formed start tag, given as a string, from index `from` (just after
 * the element name): names as written, values as written, or decoded when `decode` is set (some
 * value holds a reference, tab, line feed or carriage return).
 */
export function readAttributes(tag: string, from: number, decode: boolean): Attribute[] {
  const attrs: Attribute[] = [];
  let i = from;
  for (;;) {
    let c = tag.charCodeAt(i);
    while (isSpace(c)) c = tag.charCodeAt(++i);
    if (c === 0x3e /* > */ || c === 0x2f /* / */) return attrs;
    const eq = tag.indexOf('=', i);
    let nameEnd = eq;
    while (isSpace(tag.charCodeAt(nameEnd - 1))) nameEnd--;
    const name = tag.slice(i, nameEnd);
    i = eq + 1;
    c = tag.charCodeAt(i);
    while (isSpace(c)) c = tag.charCodeAt(++i);
    const close = tag.indexOf(c === 0x22 ? '"' : "'", i + 1);
    const raw = tag.slice(i + 1, close);
    attrs.push({ name, value: decode ? decodeAttributeValue(raw) : raw });
    i = close + 1;
  }
}
