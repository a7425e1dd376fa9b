/**
 * Strict UTF-8 (RFC 3629 §4, Unicode Table 3-7) as lookup tables, so the tokenizer can validate
 * byte by byte and resume in the middle of a sequence at any chunk boundary; and decoding of
 * checked bytes to strings. No state but a cache of name strings.
 *
 * Only the first continuation byte has a lead-dependent range; that range is what rules out
 * overlong forms (E0, F0), UTF-16 surrogates (ED) and code points above U+10FFFF (F4).
 */

/** Continuation bytes that follow each lead byte; 0 for bytes that cannot start a sequence. */
export const UTF8_NEED: Uint8Array = new Uint8Array(256);
/** Smallest allowed first continuation byte, per lead byte. */
export const UTF8_LO: Uint8Array = new Uint8Array(256);
/** Largest allowed first continuation byte, per lead byte. */
export const UTF8_HI: Uint8Array = new Uint8Array(256);
/** Payload bits of each lead byte. */
export const UTF8_LEAD_BITS: Uint8Array = new Uint8Array(256);

for (let b = 0xc2; b <= 0xf4; b++) {
  UTF8_NEED[b] = b < 0xe0 ? 1 : b < 0xf0 ? 2 : 3;
  UTF8_LO[b] = 0x80;
  UTF8_HI[b] = 0xbf;
  UTF8_LEAD_BITS[b] = b < 0xe0 ? b & 0x1f : b < 0xf0 ? b & 0x0f : b & 0x07;
}
UTF8_LO[0xe0] = 0xa0; // below: overlong 3-byte form
UTF8_HI[0xed] = 0x9f; // above: U+D800–U+DFFF
UTF8_LO[0xf0] = 0x90; // below: overlong 4-byte form
UTF8_HI[0xf4] = 0x8f; // above: beyond U+10FFFF

export const UTF8_NONCHAR_TEXT = 'U+FFFE and U+FFFF are not XML characters';

/** Why `lead` cannot start a sequence (only call when UTF8_NEED[lead] is 0 and lead ≥ 0x80). */
export function utf8LeadError(lead: number): string {
  if (lead < 0xc0) return 'invalid UTF-8: unexpected continuation byte';
  if (lead < 0xc2) return 'invalid UTF-8: overlong encoding';
  return 'invalid UTF-8: invalid lead byte';
}

/** Why `b` cannot be the continuation byte number `index` (1-based) after `lead`. */
export function utf8ContinuationError(lead: number, b: number, index: number): string {
  if ((b & 0xc0) !== 0x80 || index > 1) return 'invalid UTF-8: truncated sequence';
  if (lead === 0xed) return 'invalid UTF-8: surrogate code point';
  if (lead === 0xf4) return 'invalid UTF-8: code point above U+10FFFF';
  return 'invalid UTF-8: overlong encoding';
}

//
// Decoding checked bytes to strings.
//

/** Buffer's native decoders, called directly: `toString()` adds two JS wrappers per call. */
interface NativeSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** `buf[start, end)`, valid UTF-8, as a string. */
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as NativeSlices).utf8Slice(start, end);
}

/** `buf[start, end)`, ASCII only, as a string. */
function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as NativeSlices).latin1Slice(start, end);
}

//
// Names repeat endlessly (`message`, `presence`, `stream`) and a native decode costs about as much
// as tokenizing a short tag, so a direct-mapped cache of short ASCII names turns their bytes back
// into the same string in one pass of JS. Shared by all tokenizers: strings are immutable.
//
const CACHE_SLOTS = 1024;
const MAX_CACHED_NAME = 32;
const nameCache: string[] = new Array<string>(CACHE_SLOTS).fill('');

/** An element name (or a prefix) in `buf[start, end)`, valid UTF-8. */
export function decodeName(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  if (length > MAX_CACHED_NAME) return utf8(buf, start, end);
  let hash = length;
  let bits = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    hash = (hash * 31 + b) | 0;
    bits |= b;
  }
  if (bits >= 0x80) return utf8(buf, start, end);
  const slot = hash & (CACHE_SLOTS - 1);
  const cached = nameCache[slot];
  if (cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === buf[start + i]) i++;
    if (i === length) return cached;
  }
  const decoded = latin1(buf, start, end);
  nameCache[slot] = decoded;
  return decoded;
}
