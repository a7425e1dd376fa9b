/**
 * A strict, namespace-aware reference parser for the tokenizer's tests: saxes (XML 1.0 5th edition
 * and Namespaces in XML 1.0, well-formedness errors reported, not repaired). It reads a whole
 * document or fragment into plain trees, or says why the input is not well-formed.
 *
 * Bytes are decoded as strict UTF-8 first: a byte sequence that is not UTF-8 is not XML (XML 1.0
 * §2.2, §4.3.3) whatever the parser would make of the replacement characters.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';

export interface OracleElement {
  /** Qualified name as written. */
  readonly name: string;
  /** Namespace name the element is in ('' for none). */
  readonly uri: string;
  /** Attributes as written (declarations included), in document order, values normalized (XML 1.0 §3.3.3). */
  readonly attrs: readonly { name: string; value: string }[];
  /** Element children and text (character data and CDATA merged, empty text dropped). */
  readonly children: readonly (OracleElement | string)[];
}

export interface OracleResult {
  /** Stream/document: the root's attributes; fragment: null. */
  readonly root: OracleElement | null;
  /** The elements the tokenizer should emit: the root's element children, or a fragment's top-level elements. */
  readonly top: readonly OracleElement[];
  /** How many of `top` were complete (end tag read) when parsing stopped. */
  readonly complete: number;
  /** Why the input is not well-formed, or null. */
  readonly error: string | null;
}

interface Building {
  name: string;
  uri: string;
  attrs: { name: string; value: string }[];
  children: (Building | string)[];
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Namespaces in XML 1.0 §3: every element and attribute name is a QName, NCName (':' NCName)?.
// saxes checks names as XML 1.0 Names only (it takes `xmlns:1='…'`), so the oracle adds this.
const NC_START = 'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NC_NAME = `[${NC_START}][${NC_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040]*`;
const QNAME = new RegExp(`^${NC_NAME}(?::${NC_NAME})?$`, 'u');

/** Whether `name` is a QName (Namespaces in XML 1.0 §3). */
export function isQName(name: string): boolean {
  return QNAME.test(name);
}

/**
 * Parses `input` strictly. `fragment`: a sequence of top-level elements (an RFC 7395 message)
 * with prefixes bound by `namespaces`; otherwise one document whose root holds the elements.
 */
export function parseStrict(input: Uint8Array | string, options: { fragment?: boolean; namespaces?: Record<string, string> } = {}): OracleResult {
  let text: string;
  try {
    text = typeof input === 'string' ? input : decoder.decode(input);
  } catch {
    // What came before the bad byte still counts: elements completed there may be emitted.
    const bytes = input as Uint8Array;
    const before = parseStrict(bytes.subarray(0, validUtf8Length(bytes)), options);
    return { ...before, error: before.error ?? 'invalid UTF-8' };
  }
  const fragment = options.fragment === true;
  const parser = new SaxesParser({ xmlns: true, fragment, position: fragment, additionalNamespaces: options.namespaces ?? {} });
  const stack: Building[] = [];
  // Namespace scopes kept here, not read from saxes: saxes trims a declaration's value, but the
  // namespace name is the normalized attribute value as it is (Namespaces in XML 1.0 §3), so
  // `xmlns=' urn:a'` names ' urn:a' (a flipped byte in the mutated run showed the difference).
  const scopes: Record<string, string>[] = [{ xml: 'http://www.w3.org/XML/1998/namespace', ...(options.namespaces ?? {}) }];
  const top: Building[] = [];
  let root: Building | null = null;
  let outsideText = '';
  /**
   * Fragment mode: character data between elements that is not literal whitespace. saxes hands
   * text over decoded, so `&#xD;` would pass the whitespace check below, and an empty
   * `<![CDATA[]]>` adds nothing to it; but XML's whitespace (S, XML 1.0 §2.3) is literal characters,
   * and a reference or a CDATA section is character data (the mutated runs found both). `tagEnd`:
   * where the last tag ended, in the string fed (saxes's position counts UTF-16 units, like String
   * indices).
   */
  let outsideData = false;
  let tagEnd = 0;
  let complete = 0;
  parser.on('opentag', (tag: SaxesTagNS) => {
    for (const name of [tag.name, ...Object.keys(tag.attributes)]) {
      if (!isQName(name)) throw new Error(`${JSON.stringify(name)} is not a QName (Namespaces in XML 1.0 §3)`);
    }
    const scope = { ...scopes[scopes.length - 1]! };
    for (const a of Object.values(tag.attributes)) {
      if (a.name === 'xmlns') scope[''] = a.value;
      else if (a.name.startsWith('xmlns:')) scope[a.name.slice(6)] = a.value;
    }
    scopes.push(scope);
    const colon = tag.name.indexOf(':');
    const el: Building = {
      name: tag.name,
      uri: scope[colon < 0 ? '' : tag.name.slice(0, colon)] ?? '',
      attrs: Object.values(tag.attributes).map((a) => ({ name: a.name, value: a.value })),
      children: [],
    };
    const parent = stack[stack.length - 1];
    if (parent !== undefined) parent.children.push(el);
    if (!fragment && stack.length === 0) root = el;
    else if (stack.length === (fragment ? 0 : 1)) top.push(el);
    stack.push(el);
  });
  parser.on('closetag', () => {
    if (fragment) tagEnd = parser.position;
    stack.pop();
    scopes.pop();
    if (stack.length === (fragment ? 0 : 1)) complete++;
  });
  const onText = (t: string, cdata = false): void => {
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      outsideText += t;
      if (fragment && (cdata || text.slice(tagEnd, parser.position).includes('&'))) outsideData = true;
      return;
    }
    if (t === '') return;
    const last = parent.children.length - 1;
    if (typeof parent.children[last] === 'string') parent.children[last] += t;
    else parent.children.push(t);
  };
  parser.on('text', (t) => onText(t));
  parser.on('cdata', (t) => onText(t, true));
  try {
    parser.write(text).close();
  } catch (err) {
    // Without the `line:col: ` prefix saxes adds when it tracks positions (fragment mode, above).
    return { root, top, complete, error: (err as Error).message.replace(/^\d+:\d+: /, '') };
  }
  // A fragment parser takes text between elements; an RFC 7395 message holds only elements and whitespace.
  if (fragment && (outsideData || !/^[ \t\r\n]*$/.test(outsideText))) return { root, top, complete, error: 'text outside elements' };
  return { root, top, complete, error: null };
}

/** Length of the longest prefix of `bytes` that is well-formed UTF-8 (RFC 3629 §4), up to the first bad sequence. */
export function validUtf8Length(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b < 0x80) need = 0;
    else if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return i;
}

/**
 * One RFC 7395 message: an optional XML declaration (checked as the start of a document), then
 * top-level elements and whitespace (a fragment: XML 1.0 has no production for it).
 */
export function parseMessage(input: Uint8Array): OracleResult {
  let text: string;
  try {
    text = decoder.decode(input);
  } catch {
    const before = parseMessage(input.subarray(0, validUtf8Length(input)));
    return { ...before, error: before.error ?? 'invalid UTF-8' };
  }
  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>');
    if (end < 0) return { root: null, top: [], complete: 0, error: 'unterminated XML declaration' };
    const decl = parseStrict(`${text.slice(0, end + 2)}<r/>`);
    if (decl.error !== null) return { root: null, top: [], complete: 0, error: decl.error };
    text = text.slice(end + 2);
  }
  return parseStrict(text, { fragment: true });
}

/** The namespace declarations a tag makes, as saxes reads them: prefix ('' for default) → URI. */
export function declarations(el: OracleElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name, value } of el.attrs) {
    if (name === 'xmlns') out[''] = value;
    else if (name.startsWith('xmlns:')) out[name.slice(6)] = value;
  }
  return out;
}
