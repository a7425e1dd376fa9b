import fc from 'fast-check';
import type { TokenizerMode } from '../../src/xml/tokenizer';
import type { Token } from '../../src/xml/tokens';
import { runTokenizer, type Outcome } from '../helpers/tokenizer-run';

// ltx ships no types: describe the little we use of it (a lenient reference parser).
interface LtxElement {
  name: string;
  attrs: Record<string, string>;
  children: (LtxElement | string)[];
}
const ltx = require('ltx') as { parse(xml: string): LtxElement };

const NS_STREAMS = 'http://etherx.jabber.org/streams';

// ---------------------------------------------------------------------------------------------
// A model of XMPP-like XML. Each generated node knows both how it is written (`xml`) and what a
// parser must read back (names, decoded attribute values, text).

interface ModelAttr {
  readonly name: string;
  readonly value: string;
  readonly xml: string;
}
interface ModelText {
  readonly kind: 'text';
  readonly value: string;
  readonly xml: string;
}
interface ModelElement {
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
const CHARS = ['a', 'Z', '0', ' ', '>', ']', '"', "'", '<', '&', '/', '=', '?', '!', '-', ';', '#', 'é', 'Ж', '日', '😀', '👩‍💻', '\u{10FFFF}', '\uFFFD', '\n', '\t', '\r'];
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
const PREFIXES = ['p', 'q', 'ns1'];
const ATTR_NAMES = ['to', 'from', 'id', 'type', 'a', 'b-1', 'é', 'xml:lang', 'p:a', 'q:b', 'ns1:c'];
const wsArb = fc.constantFrom(' ', ' ', ' ', '\n', '\t ', '  ', '\r\n');
const optWsArb = fc.constantFrom('', '', '', ' ', '\n');

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

const elementArb: fc.Arbitrary<ModelElement> = fc.letrec<{ element: ModelElement; node: ModelElement | ModelText }>((tie) => ({
  node: fc.oneof({ maxDepth: 3, depthIdentifier: 'tree' }, textArb, cdataArb, tie('element')),
  element: fc
    .record({
      prefix: fc.constantFrom('', '', '', '', 'p', 'q', 'xml'),
      local: fc.constantFrom(...LOCAL_NAMES),
      declares: fc.subarray(['', ...PREFIXES], { maxLength: 2 }),
      attrNames: fc.subarray(ATTR_NAMES, { maxLength: 4 }),
      declsFirst: fc.boolean(),
      children: fc.array(tie('node'), { maxLength: 4, depthIdentifier: 'tree' }),
      selfClose: fc.boolean(),
      endWs: optWsArb,
    })
    .chain((shape) =>
      fc
        .tuple(fc.tuple(...shape.declares.map(declArb)), fc.tuple(...shape.attrNames.map(attrArb)))
        .map(([decls, attrs]): ModelElement => {
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
function outerPrefixes(el: ModelElement): string[] {
  const out: string[] = [];
  const walk = (node: ModelElement, scope: ReadonlySet<string>): void => {
    const inner = new Set([...scope, ...node.declares]);
    for (const p of node.uses) if (!inner.has(p) && !out.includes(p)) out.push(p);
    for (const child of node.children) if (child.kind === 'element') walk(child, inner);
  };
  walk(el, new Set());
  return out;
}

function expectedToken(el: ModelElement): unknown {
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

interface ModelDocument {
  readonly xml: string;
  readonly expected: unknown[];
  readonly models: ModelElement[];
}

const headerArb = fc
  .tuple(
    fc.constantFrom("<?xml version='1.0'?>", '<?xml version="1.0" encoding="UTF-8"?>', ''),
    fc.shuffledSubarray(['to', 'from', 'id', 'version', 'xml:lang'], { minLength: 1 }),
    fc.constantFrom("'", '"'),
    fc.constantFrom('example.org', 'Ωμέγα.example', 'a&amp;b', "x'y"),
  )
  .map(([decl, names, quote, value]) => {
    const v = quote === "'" ? value.replace(/'/g, '&apos;') : value;
    const attrs = [
      { name: 'xmlns', value: 'jabber:client' },
      { name: 'xmlns:stream', value: NS_STREAMS },
      ...names.map((name) => ({ name, value: value.replace('&amp;', '&') })),
    ];
    const xml = `<stream:stream xmlns='jabber:client' xmlns:stream='${NS_STREAMS}'${names.map((n) => ` ${n}=${quote}${v}${quote}`).join('')}>`;
    return { decl, xml, attrs };
  });

const documentArb: fc.Arbitrary<ModelDocument> = fc
  .tuple(
    headerArb,
    fc.array(fc.oneof({ weight: 4, arbitrary: elementArb }, { weight: 1, arbitrary: fc.constantFrom(' ', '\n', '\r\n \t') }), {
      maxLength: 6,
    }),
    fc.boolean(),
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

// ---------------------------------------------------------------------------------------------
// Running

/** Cuts `bytes` at the given offsets (taken modulo its length). */
function chunk(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const offsets = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const offset of offsets) {
    chunks.push(bytes.subarray(from, offset));
    from = offset;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Feeds parts (stream: documents with restart() between; fragment: messages with end() after each). */
function run(mode: TokenizerMode, parts: readonly Buffer[], cuts: readonly number[], elements?: Token[]): Outcome {
  return runTokenizer(mode, parts, (part) => chunk(part, cuts), { elements });
}

// ---------------------------------------------------------------------------------------------
// The reference: ltx parses each emitted element on its own, after the outer prefixes are declared
// where the gateway would declare them (at nameEnd).

function standalone(token: Token & { kind: 'element' }): string {
  const decls = token.outerPrefixes.map((p) => (p === '' ? " xmlns='jabber:client'" : ` xmlns:${p}='urn:outer:${p}'`)).join('');
  const xml = Buffer.concat([token.bytes.subarray(0, token.nameEnd), Buffer.from(decls), token.bytes.subarray(token.nameEnd)]);
  // ltx 3.1.2 drops the text that follows a CDATA section (it never restarts recording after
  // `]]>`), so hand it CDATA as escaped text. In well-formed XML `<![CDATA[` can only open a
  // section (text and attribute values cannot hold a raw `<`) and the section ends at the first `]]>`.
  return xml
    .toString()
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
}

/** ltx's view of a parsed element, with the declarations we inserted removed. */
function ltxAttrs(el: LtxElement, inserted: readonly string[]): Record<string, string> {
  const attrs = { ...el.attrs };
  for (const p of inserted) delete attrs[p === '' ? 'xmlns' : `xmlns:${p}`];
  return attrs;
}

/** Adjacent text merged, empty text dropped: how a parser's text nodes compare. */
function mergedChildren(children: readonly (LtxElement | ModelElement | ModelText | string)[]): (string | object)[] {
  const out: (string | object)[] = [];
  for (const child of children) {
    const text = typeof child === 'string' ? child : 'kind' in child && child.kind === 'text' ? child.value : null;
    if (text === null) out.push(child as object);
    else if (text !== '') {
      if (typeof out[out.length - 1] === 'string') out[out.length - 1] += text;
      else out.push(text);
    }
  }
  return out;
}

/** Asserts that ltx reads the element as the model says: names, decoded attributes, text, recursively. */
function expectSameTree(parsed: LtxElement, model: ModelElement, inserted: readonly string[]): void {
  expect(parsed.name).toBe(model.name);
  expect(ltxAttrs(parsed, inserted)).toEqual(Object.fromEntries(model.attrs.map((a) => [a.name, a.value])));
  const got = mergedChildren(parsed.children);
  const want = mergedChildren(model.children);
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (typeof w === 'string') expect(g).toBe(w);
    else expectSameTree(g as LtxElement, w as ModelElement, []);
  }
}

const cutsArb = fc.array(fc.nat(), { maxLength: 24 });

// Runs are bounded so the whole unit suite stays well under a minute on 2 cores.
const RUNS = { numRuns: Number(process.env.TOKENIZER_PROPERTY_RUNS ?? 200) };

describe('XmlTokenizer properties', () => {
  it('stream mode: every chunking gives the model tokens, and ltx reads each element as the model says', () => {
    fc.assert(
      fc.property(fc.array(documentArb, { minLength: 1, maxLength: 3 }), cutsArb, cutsArb, (docs, cutsA, cutsB) => {
        const parts = docs.map((d) => Buffer.from(d.xml));
        const elements: Token[] = [];
        const a = run('stream', parts, cutsA, elements);
        expect(a).toEqual({ tokens: docs.flatMap((d) => d.expected), error: null });
        expect(run('stream', parts, cutsB)).toEqual(a);
        for (const token of elements) {
          if (token.kind !== 'element') continue;
          const model = findModel(docs, token.bytes.toString());
          expectSameTree(ltx.parse(standalone(token)), model, token.outerPrefixes);
        }
      }),
      RUNS,
    );
  });

  it('fragment mode: elements with bound prefixes come out as modelled, unbound ones fail', () => {
    const messageArb = fc.tuple(
      fc.constantFrom('', "<?xml version='1.0'?>", ' '),
      fc.array(fc.tuple(optWsArb, elementArb), { maxLength: 3 }),
      optWsArb,
    );
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 3 }), cutsArb, (messages, cuts) => {
        const parts = messages.map(([decl, items, tail]) => Buffer.from(decl + items.map(([ws, el]) => ws + el.xml).join('') + tail));
        const outcome = run('fragment', parts, cuts);
        const expected: unknown[] = [];
        let unbound = false;
        for (const [, items] of messages) {
          for (const [, el] of items) {
            if (outerPrefixes(el).some((p) => p !== '')) {
              unbound = true;
              break;
            }
            expected.push(expectedToken(el));
          }
          if (unbound) break;
        }
        expect(outcome.tokens).toEqual(expected);
        expect(outcome.error?.condition ?? null).toBe(unbound ? 'not-well-formed' : null);
        expect(run('fragment', parts, [])).toEqual(outcome);
      }),
      RUNS,
    );
  });

  it('mutated input never throws, is chunking-independent, and what it accepts ltx reads the same', () => {
    const mutationArb = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.constantFrom('<', '>', '&', ']]>', '<!--', '<?', '"', "'", '/', '=', ':', '\u0000', 'é').map((s) => Buffer.from(s)),
      }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom<TokenizerMode>('stream', 'fragment'),
        documentArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        cutsArb,
        (mode, doc, mutations, cuts) => {
          let input: Buffer = Buffer.from(doc.xml);
          if (mode === 'fragment') input = input.subarray(input.indexOf('>', input.indexOf('<stream:stream')) + 1);
          for (const m of mutations) input = mutate(input, m);
          const elements: Token[] = [];
          const whole = run(mode, [input], [], elements);
          expect(run(mode, [input], cuts)).toEqual(whole);
          expect(run(mode, [input], Array.from(input.keys()))).toEqual(whole);
          for (const token of elements) {
            if (token.kind !== 'element') continue;
            const parsed = ltx.parse(standalone(token));
            expect(parsed.name).toBe(token.name);
            const ours = Object.fromEntries(token.attrs.map((a) => [a.name, normalize(a.value)]));
            const theirs = Object.fromEntries(
              Object.entries(ltxAttrs(parsed, token.outerPrefixes)).map(([k, v]) => [k, normalize(v)]),
            );
            expect(ours).toEqual(theirs);
          }
        },
      ),
      RUNS,
    );
  });
});

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number };

function mutate(input: Buffer, m: Mutation): Buffer {
  const at = input.length === 0 ? 0 : m.at % input.length;
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(input);
      if (out.length > 0) out[at] = m.byte;
      return out;
    }
    case 'insert':
      return Buffer.concat([input.subarray(0, at), m.bytes, input.subarray(at)]);
    case 'delete':
      return Buffer.concat([input.subarray(0, at), input.subarray(at + m.length)]);
    case 'truncate':
      return input.subarray(0, at);
  }
}

/**
 * ltx does not normalize attribute whitespace (XML 1.0 §3.3.3) and decodes `&#10;` and a literal
 * line feed alike, so compare values with all tab/LF/CR folded to spaces on both sides.
 */
function normalize(value: string): string {
  return value.replace(/\r\n|[\t\n\r]/g, ' ');
}

function findModel(docs: readonly ModelDocument[], xml: string): ModelElement {
  for (const doc of docs) {
    const found = doc.models.find((m) => m.xml === xml);
    if (found) return found;
  }
  throw new Error('element not in the model');
}
