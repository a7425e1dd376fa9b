/**
 * A model of XMPP-like XML for the tokenizer's property tests: each generated node knows both how
 * it is written (`xml`) and what a parser must read back (names, decoded attribute values, text).
 */
import fc from 'fast-check';

export const NS_STREAMS = 'http://etherx.jabber.org/streams';

/** Prefixes elements may use; a stream header can bind them (see documentArb). */
export const PREFIXES = ['p', 'q', 'ns1'];

export interface ModelAttr {
  readonly name: string;
  readonly value: string;
  readonly xml: string;
}
export interface ModelText {
  readonly kind: 'text';
  readonly value: string;
  readonly xml: string;
}
export interface ModelElement {
  readonly kind: 'element';
  readonly name: string;
  /** Prefixes this tag declares (`''` for `xmlns='…'`). */
  readonly declares: readonly string[];
  /** Prefixes this tag's name and attribute names use, in the order the tokenizer meets them. */
  readonly uses: readonly string[];
  readonly attrs: readonly ModelAttr[];
  readonly children: readonly (ModelElement | ModelText)[];
  readonly xml: string;
}

/** Characters worth testing: XML delimiters, quotes, `]` and `>` (for `]]>`), 1- to 4-byte UTF-8, ZWJ emoji. */
export const CHARS = ['a', 'Z', '0', ' ', '>', ']', '"', "'", '<', '&', '/', '=', '?', '!', '-', ';', '#', 'é', 'Ж', '日', '😀', '👩‍💻', '\u{10FFFF}', '\uFFFD', '\n', '\t', '\r'];
const NAMED: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };
type Encoding = 'raw' | 'named' | 'dec' | 'hex';
const encodingArb = fc.constantFrom<Encoding>('raw', 'raw', 'raw', 'named', 'dec', 'hex');

function encodeChar(ch: string, encoding: Encoding, rawAllowed: boolean): string {
  const cp = ch.codePointAt(0)!;
  if (encoding === 'named' && NAMED[ch] !== undefined) return NAMED[ch];
  if (encoding === 'raw' && rawAllowed) return ch;
  if (encoding === 'dec') return `&#${cp};`;
  return `&#x${cp.toString(16).toUpperCase()};`;
}

const piecesArb = fc.array(fc.tuple(fc.constantFrom(...CHARS), encodingArb), { maxLength: 12 });

/**
 * Character data: `<`, `&` and CR always escaped (CR would be normalized). `>` is escaped after a `]`
 * and at the start of a node: adjacent text nodes (`]` then `]>`) must not form `]]>` either.
 */
const textArb: fc.Arbitrary<ModelText> = piecesArb.map((pieces) => {
  let xml = '';
  let value = '';
  for (const [ch, encoding] of pieces) {
    // Expand multi-code-point pieces (ZWJ sequences) one code point at a time.
    for (const c of ch) {
      const rawAllowed = c !== '<' && c !== '&' && c !== '\r' && !(c === '>' && (xml === '' || xml.endsWith(']')));
      xml += encodeChar(c, encoding, rawAllowed);
      value += c;
    }
  }
  return { kind: 'text', value, xml };
});

/** CDATA: anything but CR, with `]]>` broken up. */
const cdataArb: fc.Arbitrary<ModelText> = fc
  .array(fc.constantFrom(...CHARS.filter((c) => c !== '\r')), { maxLength: 12 })
  .map((chars) => {
    const value = chars.join('').replace(/]]>/g, ']] >');
    return { kind: 'text', value, xml: `<![CDATA[${value}]]>` };
  });

const LOCAL_NAMES = ['message', 'body', 'x', 'item', 'query', 'b-c', 'd.e', 'f_1', 'données', '日本', 'ελ', '𐀀'];
const ATTR_NAMES = ['to', 'from', 'id', 'type', 'a', 'b-1', 'é', 'xml:lang', 'p:a', 'q:b', 'ns1:c'];
const wsArb = fc.constantFrom(' ', ' ', ' ', '\n', '\t ', '  ', '\r\n');
export const optWsArb = fc.constantFrom('', '', '', ' ', '\n');

function attrArb(name: string): fc.Arbitrary<ModelAttr> {
  return fc.tuple(fc.constantFrom('"', "'"), piecesArb, wsArb, optWsArb, optWsArb).map(([quote, pieces, ws, eq1, eq2]) => {
    let xml = '';
    let value = '';
    for (const [ch, encoding] of pieces) {
      for (const c of ch) {
        // Literal tab/LF/CR would be normalized to spaces (XML 1.0 §3.3.3): only as references.
        const rawAllowed = c !== '<' && c !== '&' && c !== quote && c !== '\t' && c !== '\n' && c !== '\r';
        xml += encodeChar(c, encoding, rawAllowed);
        value += c;
      }
    }
    return { name, value, xml: `${ws}${name}${eq1}=${eq2}${quote}${xml}${quote}` };
  });
}

function declArb(prefix: string): fc.Arbitrary<ModelAttr> {
  const name = prefix === '' ? 'xmlns' : `xmlns:${prefix}`;
  return fc.tuple(fc.constantFrom('urn:a', 'jabber:client', 'urn:x&amp;y'), wsArb).map(([uri, ws]) => ({
    name,
    value: uri.replace('&amp;', '&'),
    xml: `${ws}${name}='${uri}'`,
  }));
}

const prefixOf = (name: string): string => (name.includes(':') ? name.slice(0, name.indexOf(':')) : '');

export const elementArb: fc.Arbitrary<ModelElement> = fc.letrec<{ element: ModelElement; node: ModelElement | ModelText }>((tie) => ({
  node: fc.oneof({ maxDepth: 3, depthIdentifier: 'tree' }, textArb, cdataArb, tie('element')),
  element: fc
    .record({
      prefix: fc.constantFrom('', '', '', '', 'p', 'q', 'xml'),
      local: fc.constantFrom(...LOCAL_NAMES),
      declares: fc.subarray(['', ...PREFIXES], { maxLength: 2 }),
      attrNames: fc.subarray(ATTR_NAMES, { maxLength: 4 }),
      // Now and then far more attributes than a stanza carries: the tokenizer's duplicate check
      // switches to a hash set past 16 (XML 1.0 §3.1 allows any number).
      many: fc.oneof({ weight: 24, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 17, max: 300 }) }),
      declsFirst: fc.boolean(),
      children: fc.array(tie('node'), { maxLength: 4, depthIdentifier: 'tree' }),
      selfClose: fc.boolean(),
      endWs: optWsArb,
    })
    .chain((shape) =>
      fc
        .tuple(
          fc.tuple(...shape.declares.map(declArb)),
          fc.tuple(...shape.attrNames.map(attrArb)),
          fc.tuple(...Array.from({ length: shape.many }, (_, i) => attrArb(`m${i}`))),
        )
        .map(([decls, named, extra]): ModelElement => {
          const attrs = [...named, ...extra];
          const name = shape.prefix === '' ? shape.local : `${shape.prefix}:${shape.local}`;
          const all = shape.declsFirst ? [...decls, ...attrs] : [...attrs, ...decls];
          const uses = [prefixOf(name), ...attrs.map((a) => prefixOf(a.name)).filter((p) => p !== '')].filter(
            (p) => p !== 'xml',
          );
          const children = shape.children as (ModelElement | ModelText)[];
          const open = `<${name}${all.map((a) => a.xml).join('')}${shape.endWs}`;
          const xml =
            children.length === 0 && shape.selfClose
              ? `${open}/>`
              : `${open}>${children.map((c) => c.xml).join('')}</${name}${shape.endWs}>`;
          return { kind: 'element', name, declares: shape.declares, uses, attrs: all, children, xml };
        }),
    ),
})).element;

/** Prefixes an element relies on from outside, in first-use order (see ElementToken.outerPrefixes). */
export function outerPrefixes(el: ModelElement): string[] {
  const out: string[] = [];
  const walk = (node: ModelElement, scope: ReadonlySet<string>): void => {
    const inner = new Set([...scope, ...node.declares]);
    for (const p of node.uses) if (!inner.has(p) && !out.includes(p)) out.push(p);
    for (const child of node.children) if (child.kind === 'element') walk(child, inner);
  };
  walk(el, new Set());
  return out;
}

export function expectedToken(el: ModelElement): unknown {
  return {
    kind: 'element',
    name: el.name,
    nameEnd: 1 + Buffer.byteLength(el.name),
    attrs: el.attrs.map(({ name, value }) => ({ name, value })),
    outerPrefixes: outerPrefixes(el),
    bytes: Buffer.from(el.xml).toString('hex'),
  };
}

// ---------------------------------------------------------------------------------------------
// Streams: documents separated by restarts, each `[<?xml?>] header (element | keepalive)* [close]`.

export interface ModelDocument {
  readonly xml: string;
  readonly expected: unknown[];
  readonly models: ModelElement[];
}

/**
 * A stream header. `bind`: it also declares every prefix of PREFIXES, so the whole document is
 * namespace-well-formed and a strict parser can read it (XMPP servers rarely do this, but may).
 */
function headerArb(bind: boolean) {
  return fc
    .tuple(
      fc.constantFrom("<?xml version='1.0'?>", '<?xml version="1.0" encoding="UTF-8"?>', ''),
      fc.shuffledSubarray(['to', 'from', 'id', 'version', 'xml:lang'], { minLength: 1 }),
      fc.constantFrom("'", '"'),
      fc.constantFrom('example.org', 'Ωμέγα.example', 'a&amp;b', "x'y"),
    )
    .map(([decl, names, quote, value]) => {
      const v = quote === "'" ? value.replace(/'/g, '&apos;') : value;
      const bound = bind ? PREFIXES.map((p) => ({ name: `xmlns:${p}`, value: `urn:outer:${p}` })) : [];
      const attrs = [
        { name: 'xmlns', value: 'jabber:client' },
        { name: 'xmlns:stream', value: NS_STREAMS },
        ...bound,
        ...names.map((name) => ({ name, value: value.replace('&amp;', '&') })),
      ];
      const xml =
        `<stream:stream xmlns='jabber:client' xmlns:stream='${NS_STREAMS}'` +
        `${bound.map((a) => ` ${a.name}='${a.value}'`).join('')}${names.map((n) => ` ${n}=${quote}${v}${quote}`).join('')}>`;
      return { decl, xml, attrs };
    });
}

/** One stream document: `[<?xml?>] header (element | keepalive)* [</stream:stream>]`. */
export function streamDocumentArb(options: { bindPrefixes?: boolean; close?: boolean } = {}): fc.Arbitrary<ModelDocument> {
  return fc
    .tuple(
      headerArb(options.bindPrefixes === true),
      fc.array(fc.oneof({ weight: 4, arbitrary: elementArb }, { weight: 1, arbitrary: fc.constantFrom(' ', '\n', '\r\n \t') }), {
        maxLength: 6,
      }),
      options.close === undefined ? fc.boolean() : fc.constant(options.close),
    )
    .map(([header, items, close]) => {
      let xml = header.decl + header.xml;
      const models: ModelElement[] = [];
      const expected: unknown[] = [
        { kind: 'stream-open', name: 'stream:stream', attrs: header.attrs, bytes: Buffer.from(header.xml).toString('hex') },
      ];
      for (const item of items) {
        if (typeof item === 'string') {
          xml += item;
        } else {
          xml += item.xml;
          expected.push(expectedToken(item));
          models.push(item);
        }
      }
      if (close) {
        xml += '</stream:stream> ';
        expected.push({ kind: 'stream-close' });
      }
      return { xml, expected, models };
    });
}

/** Streams whose elements may use prefixes the header does not declare (outer prefixes). */
export const documentArb = streamDocumentArb();

/** One RFC 7395 message: an optional XML declaration, then elements separated by optional whitespace. */
export const messageArb = fc.tuple(
  fc.constantFrom('', "<?xml version='1.0'?>", ' '),
  fc.array(fc.tuple(optWsArb, elementArb), { maxLength: 3 }),
  optWsArb,
);
