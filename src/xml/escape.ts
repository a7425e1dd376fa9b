/**
 * Escaping for XML the gateway writes itself (stream headers, errors, namespace declarations).
 * Pure functions. The output is always well-formed: characters XML 1.0 cannot carry at all (C0
 * controls other than tab/LF/CR, U+FFFE, U+FFFF, unpaired UTF-16 surrogates) become U+FFFD.
 */

/**
 * Characters that are not XML 1.0 Chars (§2.2) in a JavaScript string: C0 controls other than
 * tab, LF and CR; U+FFFE/U+FFFF; a high surrogate not followed by a low one; a low surrogate not
 * preceded by a high one.
 */
const NOT_CHAR = '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\uFFFE\\uFFFF]|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';

const ATTR_SPECIAL = new RegExp(`[&<>"'\\t\\n\\r]|${NOT_CHAR}`, 'g');
const TEXT_SPECIAL = new RegExp(`[&<>\\r]|${NOT_CHAR}`, 'g');

const REPLACEMENTS: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // Character references survive attribute-value normalization (XML 1.0 §3.3.3) and line-end
  // normalization (§2.11), so the value reads back exactly as written.
  '\t': '&#x9;',
  '\n': '&#xA;',
  '\r': '&#xD;',
};

function replace(match: string): string {
  return REPLACEMENTS[match] ?? '\uFFFD';
}

/**
 * Escapes a value for either `'…'` or `"…"` attribute quoting: `& < > " '` become entity
 * references and tab, LF and CR become character references, so a parser reads back exactly
 * `value`.
 */
export function escapeAttr(value: string): string {
  ATTR_SPECIAL.lastIndex = 0;
  return ATTR_SPECIAL.test(value) ? value.replace(ATTR_SPECIAL, replace) : value;
}

/**
 * Escapes character data: `& < >` become entity references (`>` too, so `]]>` can never appear)
 * and CR becomes `&#xD;` so line-end normalization does not turn it into LF.
 */
export function escapeText(value: string): string {
  TEXT_SPECIAL.lastIndex = 0;
  return TEXT_SPECIAL.test(value) ? value.replace(TEXT_SPECIAL, replace) : value;
}
