import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_XML_DECL_BYTES, XmlTokenizer, type TokenizerMode } from '../../src/xml/tokenizer';
import type {
  ElementToken,
  StreamOpenToken,
  Token,
  TokenizerCondition,
  TokenizerError,
  TokenizerLimits,
} from '../../src/xml/tokens';
import { runTokenizer, type Chunker, type Outcome } from '../helpers/tokenizer-run';

// ---------------------------------------------------------------------------------------------
// Harness: run inputs through a tokenizer under a chunking, and summarize the result as plain
// data so any two chunkings can be compared with toEqual.



const whole: Chunker = (part) => [part];
const singleBytes: Chunker = (part) => Array.from(part, (_, i) => part.subarray(i, i + 1));
const splitAt =
  (offset: number): Chunker =>
  (part) => [part.subarray(0, offset), part.subarray(offset)];

function run(mode: TokenizerMode, parts: readonly Buffer[], chunker: Chunker, limits?: Partial<TokenizerLimits>): Outcome {
  return runTokenizer(mode, parts, chunker, { limits, endStream: true });
}

/** Asserts that every split of every part (two pieces at each offset, and single bytes) gives `expected`. */
function expectSplitInvariant(mode: TokenizerMode, parts: readonly Buffer[], expected: Outcome, limits?: Partial<TokenizerLimits>): void {
  expect(run(mode, parts, singleBytes, limits)).toEqual(expected);
  for (let p = 0; p < parts.length; p++) {
    for (let offset = 1; offset < parts[p]!.length; offset++) {
      const chunker: Chunker = (part) => (part === parts[p] ? splitAt(offset)(part) : [part]);
      const outcome = run(mode, parts, chunker, limits);
      if (!isEqual(outcome, expected)) {
        // Report the first failing split point with a readable diff.
        expect({ part: p, offset, outcome }).toEqual({ part: p, offset, outcome: expected });
      }
    }
  }
}

function isEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

/** Tokens as short labels: `open:stream:stream`, `el:message`, `close`. */
function labels(outcome: Outcome): string[] {
  return outcome.tokens.map((t) => {
    const token = t as { kind: string; name?: string };
    return token.kind === 'stream-open' ? `open:${token.name}` : token.kind === 'element' ? `el:${token.name}` : 'close';
  });
}

const HEADER =
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>";
const DECL = "<?xml version='1.0'?>";
const OPEN = `${DECL}${HEADER}`;

// ---------------------------------------------------------------------------------------------
// Table: every case is checked whole, and then at every split point and byte by byte.

interface Case {
  readonly name: string;
  readonly mode: TokenizerMode;
  /** Documents (stream mode, restart() between them) or WebSocket messages (fragment mode). */
  readonly input: string | Buffer | readonly (string | Buffer)[];
  /** Token labels expected (before the error, if any). */
  readonly tokens: readonly string[];
  readonly error?: TokenizerCondition;
  /** Part of the error text. */
  readonly text?: string;
  readonly limits?: Partial<TokenizerLimits>;
}

const s = (name: string, body: string, tokens: string[], error?: TokenizerCondition, text?: string): Case => ({
  name,
  mode: 'stream',
  input: OPEN + body,
  tokens: ['open:stream:stream', ...tokens],
  ...(error ? { error } : {}),
  ...(text ? { text } : {}),
});
const f = (name: string, input: string | Buffer, tokens: string[], error?: TokenizerCondition, text?: string): Case => ({
  name,
  mode: 'fragment',
  input,
  tokens,
  ...(error ? { error } : {}),
  ...(text ? { text } : {}),
});
/**
 * A fragment-mode case: a complete `<ok/>`, then one element `<a>…</a>` around `inner` raw bytes,
 * in one message. When `inner` is an error, `<ok/>` must still come out before it.
 */
const inside = (name: string, inner: string | Buffer, error?: TokenizerCondition, text?: string): Case =>
  f(name, Buffer.concat([bytes('<ok/><a>'), bytes(inner), bytes('</a>')]), error ? ['el:ok'] : ['el:ok', 'el:a'], error, text);
const hex = (h: string): Buffer => Buffer.from(h.replace(/ /g, ''), 'hex');

const CASES: Case[] = [
  // Stream structure
  s('header, stanza, close', "<message to='b'/></stream:stream>", ['el:message', 'close']),
  { name: 'header without XML declaration', mode: 'stream', input: HEADER + '<a/>', tokens: ['open:stream:stream', 'el:a'] },
  {
    name: 'declaration with encoding and standalone, double quotes',
    mode: 'stream',
    input: `<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>${HEADER}`,
    tokens: ['open:stream:stream'],
  },
  // The server's stream is lenient about whitespace before its declaration, unlike a client message
  // (XML 1.0 §2.8 wants the declaration first): a whitespace keepalive the server sent just before it
  // read our restarted header arrives right before the new `<?xml` (a difference by design).
  { name: 'whitespace before the declaration is tolerated', mode: 'stream', input: ` \n${OPEN}`, tokens: ['open:stream:stream'] },
  { name: 'whitespace before a header without declaration', mode: 'stream', input: ` \n${HEADER}<a/>`, tokens: ['open:stream:stream', 'el:a'] },
  { name: 'whitespace and text before the header', mode: 'stream', input: ` x${HEADER}`, tokens: [], error: 'not-well-formed', text: 'before the stream header' },
  {
    name: 'restart: a whitespace keepalive before the new declaration',
    mode: 'stream',
    input: [OPEN + '<success/>', `\n${OPEN}<iq/>`],
    tokens: ['open:stream:stream', 'el:success', 'open:stream:stream', 'el:iq'],
  },
  {
    name: 'restart: whitespace before a new header without declaration',
    mode: 'stream',
    input: [OPEN + '<success/>', `\n${HEADER}<iq/>`],
    tokens: ['open:stream:stream', 'el:success', 'open:stream:stream', 'el:iq'],
  },
  { name: 'whitespace between declaration and header', mode: 'stream', input: `${DECL}\n ${HEADER}`, tokens: ['open:stream:stream'] },
  s('whitespace keepalives produce no token', " \n\t\r <a/> \n <b/>  ", ['el:a', 'el:b']),
  s('whitespace after the stream close', '</stream:stream> \n ', ['close']),
  s('end tag of the stream with whitespace', '</stream:stream  >', ['close']),
  {
    name: 'self-closing stream header opens and closes',
    mode: 'stream',
    input: "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>",
    tokens: ['open:stream:stream', 'close'],
  },
  {
    name: 'restart: a new declaration and header after restart()',
    mode: 'stream',
    input: [OPEN + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", OPEN + '<iq/>'],
    tokens: ['open:stream:stream', 'el:success', 'open:stream:stream', 'el:iq'],
  },
  {
    name: 'restart: a header without declaration after restart()',
    mode: 'stream',
    input: [OPEN + '<success/>', HEADER + '</stream:stream>'],
    tokens: ['open:stream:stream', 'el:success', 'open:stream:stream', 'close'],
  },
  {
    name: 'restart after the stream was closed',
    mode: 'stream',
    input: [OPEN + '</stream:stream> ', OPEN],
    tokens: ['open:stream:stream', 'close', 'open:stream:stream'],
  },
  s('without restart(), a declaration at stream level is a PI', `<a/>${DECL}`, ['el:a'], 'restricted-xml', 'XML 1.0 §2.8'),
  s('without restart(), a nested header is an incomplete element', `<a/>${HEADER}<b/>`, ['el:a'], 'not-well-formed', 'incomplete'),
  s('text at stream level is bad-format', '<a/> hello <b/>', ['el:a'], 'bad-format'),
  s('CDATA at stream level is bad-format', '<a/><![CDATA[x]]>', ['el:a'], 'bad-format'),
  s('data after the stream close', '</stream:stream><a/>', ['close'], 'not-well-formed', 'after the end'),
  s('end tag that does not match the root', '</stream:streams>', [], 'not-well-formed', 'does not match'),
  s('end tag with a different prefix', '</stream:strean>', [], 'not-well-formed'),
  {
    name: 'text before the header',
    mode: 'stream',
    input: `${DECL}x${HEADER}`,
    tokens: [],
    error: 'not-well-formed',
    text: 'before the stream header',
  },
  { name: 'end tag before the header', mode: 'stream', input: '</stream:stream>', tokens: [], error: 'not-well-formed' },
  { name: 'second declaration', mode: 'stream', input: DECL + DECL + HEADER, tokens: [], error: 'restricted-xml' },
  {
    name: 'root prefix must be declared on the root',
    mode: 'stream',
    input: "<stream:stream xmlns='jabber:client'>",
    tokens: [],
    error: 'not-well-formed',
    text: 'undeclared',
  },
  {
    name: 'root attribute prefix must be declared on the root',
    mode: 'stream',
    input: "<stream xmlns='jabber:client' foo:bar='1'>",
    tokens: [],
    error: 'not-well-formed',
  },
  {
    name: 'XML declaration incomplete at end()',
    mode: 'stream',
    input: "<?xml version='1.0'",
    tokens: [],
    error: 'not-well-formed',
    text: 'incomplete XML declaration',
  },
  {
    name: 'stream header incomplete at end()',
    mode: 'stream',
    input: "<stream:stream xmlns:stream='x'",
    tokens: [],
    error: 'not-well-formed',
    text: 'incomplete stream header',
  },
  s('stanza incomplete at end()', '<message><body>hi</body>', [], 'not-well-formed', 'incomplete element'),
  s('stream still open at end() is not an error', '<a/> ', ['el:a']),

  // XML declaration
  { name: 'declaration without version', mode: 'stream', input: `<?xml encoding='UTF-8'?>${HEADER}`, tokens: [], error: 'not-well-formed' },
  { name: 'declaration <?xml?>', mode: 'stream', input: `<?xml?>${HEADER}`, tokens: [], error: 'not-well-formed' },
  { name: 'declaration with a non-UTF-8 encoding', mode: 'stream', input: `<?xml version='1.0' encoding='ISO-8859-1'?>${HEADER}`, tokens: [], error: 'not-well-formed', text: 'UTF-8' },
  { name: 'declaration with mismatched quotes', mode: 'stream', input: `<?xml version='1.0"?>${HEADER}`, tokens: [], error: 'not-well-formed' },
  { name: 'declaration containing ?> early', mode: 'stream', input: `<?xml version='1.0' ?>?>${HEADER}`, tokens: [], error: 'not-well-formed' },
  { name: 'upper-case XML target is a PI', mode: 'stream', input: `<?XML version='1.0'?>${HEADER}`, tokens: [], error: 'restricted-xml' },
  { name: 'xml-stylesheet PI', mode: 'stream', input: `<?xml-stylesheet href='a'?>${HEADER}`, tokens: [], error: 'restricted-xml' },
  {
    name: 'declaration too long',
    mode: 'stream',
    input: `<?xml version='1.0'${' '.repeat(MAX_XML_DECL_BYTES)}?>${HEADER}`,
    tokens: [],
    error: 'policy-violation',
  },
  { name: 'non-ASCII in the declaration', mode: 'stream', input: `<?xml version='1.0' é?>${HEADER}`, tokens: [], error: 'not-well-formed' },

  // Fragment mode
  f('open element', "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.org' version='1.0'/>", ['el:open']),
  f('several elements with whitespace', ' <a/>\n<b>x</b>  <c/> ', ['el:a', 'el:b', 'el:c']),
  f('empty message', '', []),
  f('whitespace-only message', ' \r\n\t', []),
  f('declaration at the start of a message is dropped', `${DECL}<a/>`, ['el:a']),
  // XML 1.0 §2.8: the declaration must be the message's very first bytes (found by the strict-parser fuzz).
  f('declaration after whitespace at the start', `  ${DECL}<a/>`, [], 'restricted-xml', 'XML 1.0 §2.8'),
  f('declaration after a newline at the start', `\n${DECL}`, [], 'restricted-xml'),
  f('declaration alone', DECL, []),
  f('declaration then whitespace and elements', `${DECL} \n<a/> <b/>`, ['el:a', 'el:b']),
  f('whitespace then an element', ' \t<a/>', ['el:a']),
  f('whitespace then text', ' x<a/>', [], 'not-well-formed', 'outside an element'),
  f('two declarations', DECL + DECL, [], 'restricted-xml'),
  f('declaration after an element', `<a/>${DECL}`, ['el:a'], 'restricted-xml'),
  f('other PI at the start', '<?foo bar?><a/>', [], 'restricted-xml'),
  f('text at top level', '<a/>hello', ['el:a'], 'not-well-formed', 'outside an element'),
  f('end tag without start', '</a>', [], 'not-well-formed'),
  f('incomplete element at end()', '<a><b/>', [], 'not-well-formed', 'incomplete element at end of message'),
  f('unbound element prefix', '<p:a/>', [], 'not-well-formed', 'unbound'),
  f('unbound attribute prefix', "<a p:x='1'/>", [], 'not-well-formed', 'unbound'),
  f('prefix declared on the element itself', "<p:a xmlns:p='urn:p'/>", ['el:p:a']),
  f('prefix declared after its use on the same tag', "<p:a q:x='1' xmlns:q='urn:q' xmlns:p='urn:p'/>", ['el:p:a']),
  f('prefix declared on an ancestor', "<a xmlns:p='urn:p'><b><p:c/></b></a>", ['el:a']),
  f('prefix declared on a sibling is out of scope', "<a><b xmlns:p='urn:p'/><p:c/></a>", [], 'not-well-formed'),
  f('the xml prefix is always bound', "<a xml:lang='en'><xml:b/></a>", ['el:a']),
  {
    name: 'messages: each one checked separately',
    mode: 'fragment',
    input: ['<a/>', `${DECL}<b/>`, ' <c/> '],
    tokens: ['el:a', 'el:b', 'el:c'],
  },
  {
    name: 'messages: leading whitespace in one message does not carry into the next',
    mode: 'fragment',
    input: [' ', `${DECL}<b/>`, ' <c/>', `${DECL}<d/>`],
    tokens: ['el:b', 'el:c', 'el:d'],
  },
  { name: 'messages: whitespace before the declaration of a later message', mode: 'fragment', input: ['<a/>', ` ${DECL}<b/>`], tokens: ['el:a'], error: 'restricted-xml' },
  { name: 'an incomplete message fails at its end()', mode: 'fragment', input: ['<a/>', '<b>', '</b>'], tokens: ['el:a'], error: 'not-well-formed' },

  // Names
  inside('ASCII names with digits, dots, dashes', '<x-1.y_2/>'),
  inside('non-ASCII names', "<données été='1'/><日本語 属性='値'/><ελληνικά/>"),
  inside('4-byte UTF-8 name (U+10000–U+EFFFF)', '<𐀀𐀁/>'),
  inside('name starting with a digit', '<1a/>', 'not-well-formed', "after '<'"),
  inside('name starting with a dash', '<-a/>', 'not-well-formed'),
  inside('name starting with a combining mark', '<\u0301a/>', 'not-well-formed', 'invalid character in name'),
  inside('non-name character inside a name', '<a\u00d7b/>', 'not-well-formed', 'invalid character in name'),
  inside('U+00B7 is a name character but not a start', '<a\u00b7b/>'),
  inside('U+00B7 cannot start a name', '<\u00b7b/>', 'not-well-formed'),
  inside('colon at the start', '<:a/>', 'not-well-formed'),
  inside('colon at the end', "<a: xmlns:a='x'/>", 'not-well-formed'),
  inside('two colons', "<a:b:c xmlns:a='x'/>", 'not-well-formed'),
  inside('local part starting with a digit', "<a:1 xmlns:a='x'/>", 'not-well-formed'),
  inside('attribute name with two colons', "<b a:b:c='1'/>", 'not-well-formed'),
  inside('attribute name ending with a colon', "<b a:='1'/>", 'not-well-formed'),
  inside('element with the xmlns prefix', '<xmlns:b/>', 'not-well-formed'),
  inside('declaring the xmlns prefix', "<b xmlns:xmlns='x'/>", 'not-well-formed'),
  inside('prefix declared with an empty name', "<b xmlns:p=''/>", 'not-well-formed'),
  inside('default namespace may be empty', "<b xmlns=''/>"),

  // End tags
  inside('end tag with whitespace', '<b></b \n\t>'),
  inside('mismatched end tag', '<b></c>', 'not-well-formed', 'does not match'),
  inside('end tag longer than the open name', '<b></bb>', 'not-well-formed'),
  inside('end tag shorter than the open name', '<bb></b>', 'not-well-formed'),
  inside('end tag with an attribute', "<b></b x='1'>", 'not-well-formed'),
  inside('end tag with a different prefix', "<p:b xmlns:p='x' xmlns:q='x'></q:b>", 'not-well-formed'),
  inside('end tag of a non-ASCII name', '<名前>x</名前>'),
  inside('end tag of a non-ASCII name with one byte changed', Buffer.concat([bytes('<名前>x</'), hex('e5 90 8d e5 89 8c'), bytes('>')]), 'not-well-formed'),

  // Attributes
  inside('attributes with both quotes and spaces around =', `<b x = "1" y\t=\n'2'/>`),
  inside('> is allowed in attribute values', "<b x='a>b' y=\">\"/>"),
  inside('the other quote inside a value', `<b x="it's" y='say "hi"'/>`),
  inside('missing whitespace between attributes', "<b x='1'y='2'/>", 'not-well-formed', 'whitespace required'),
  inside('unquoted value', '<b x=1/>', 'not-well-formed', 'quoted'),
  inside('attribute without value', '<b x/>', 'not-well-formed'),
  inside('attribute without value before >', '<b x>', 'not-well-formed'),
  inside('< in an attribute value', "<b x='<'/>", 'not-well-formed', "'<'"),
  inside('duplicate attribute', "<b x='1' y='2' x='3'/>", 'not-well-formed', 'duplicate'),
  inside('duplicate xmlns', "<b xmlns='a' xmlns='b'/>", 'not-well-formed', 'duplicate'),
  // Namespaces in XML 1.0 §3: the reserved namespace names.
  inside('xml prefix bound to the XML namespace', "<b xmlns:xml='http://www.w3.org/XML/1998/namespace'/>"),
  inside('xml prefix bound to it through a reference', "<b xmlns:xml='&#104;ttp://www.w3.org/XML/1998/namespace'/>"),
  inside('xml prefix bound elsewhere', "<b xmlns:xml='urn:x'/>", 'not-well-formed', "'xml' prefix"),
  inside('another prefix bound to the XML namespace', "<b xmlns:p='http://www.w3.org/XML/1998/namespace'/>", 'not-well-formed', 'reserved'),
  inside('the default bound to the xmlns namespace', "<b xmlns='http://www.w3.org/2000/xmlns/'/>", 'not-well-formed', 'reserved'),
  inside('a prefix bound to the xmlns namespace through a reference', "<b xmlns:p='&#x68;ttp://www.w3.org/2000/xmlns/'/>", 'not-well-formed', 'reserved'),
  inside('a same-length namespace name that is not reserved', "<b xmlns:p='http://www.w3.org/XML/1998/namespacf' xmlns='http://www.w3.org/2000/xmlnz/'/>"),
  inside('same local name, different prefixes is fine', "<b xmlns:p='x' xmlns:q='y' p:a='1' q:a='2'/>"),
  inside('garbage in a start tag', "<b x='1' ?>", 'not-well-formed', 'invalid character in start tag'),
  inside('garbage right after a value', "<b x='1'?>", 'not-well-formed', 'invalid character in start tag'),
  inside('slash not followed by >', '<b/ >', 'not-well-formed'),
  inside('control character in an attribute value', "<b x='\u0001'/>", 'not-well-formed', 'control'),
  inside('tab, newline and carriage return in an attribute value', "<b x='\t\n\r'/>"),

  // Character data, CDATA, references
  inside('> is allowed in text', 'a > b >> c'),
  inside(']] and ]> are allowed in text', 'a ]] b ]> c ] > d'),
  inside(']]> in text', 'a ]]> b', 'not-well-formed', "']]>'"),
  inside(']]]> in text', 'a ]]]> b', 'not-well-formed', "']]>'"),
  inside('CDATA section', '<![CDATA[ <b> & ]] ]> ]]]>'),
  inside('empty CDATA section', '<![CDATA[]]>'),
  inside('CDATA with multi-byte text', '<![CDATA[日本 😀]]>'),
  inside('CDATA with a control character', '<![CDATA[\u0002]]>', 'not-well-formed'),
  inside('malformed CDATA opener', '<![CDAT[x]]>', 'restricted-xml'),
  inside('predefined entities', '&lt;&gt;&amp;&quot;&apos;'),
  inside('predefined entities in attribute values', "<b x='&lt;&gt;&amp;&quot;&apos;'/>"),
  inside('character references', '&#65;&#x41;&#x1F600;&#128512;&#9;&#xA;&#13;&#x10FFFF;'),
  inside('character reference to NUL', '&#0;', 'not-well-formed', 'non-XML character'),
  inside('character reference to a surrogate', '&#xD800;', 'not-well-formed'),
  inside('character reference above U+10FFFF', '&#x110000;', 'not-well-formed'),
  inside('huge character reference', '&#99999999999999999999999;', 'not-well-formed'),
  inside('character reference to U+FFFE', '&#xFFFE;', 'not-well-formed'),
  inside('character reference to a control character', '&#x1;', 'not-well-formed'),
  inside('empty character reference', '&#;', 'not-well-formed'),
  inside('empty hex character reference', '&#x;', 'not-well-formed'),
  inside('upper-case X in a character reference', '&#X41;', 'not-well-formed'),
  inside('junk in a character reference', '&#12a;', 'not-well-formed'),
  inside('undefined entity', '&nbsp;', 'restricted-xml', 'undefined entity'),
  inside('undefined entity with a long name', '&aVeryLongEntityName;', 'restricted-xml'),
  inside('undefined entity with a prefix of a known one', '&ltx;', 'restricted-xml'),
  inside('undefined entity in an attribute', "<b x='&foo;'/>", 'restricted-xml'),
  inside('non-ASCII entity name', '&é;', 'restricted-xml'),
  inside('bare ampersand', 'a & b', 'not-well-formed', 'malformed reference'),
  inside('reference without semicolon', '&lt b', 'not-well-formed'),
  inside('bare ampersand in an attribute', "<b x='a&b'/>", 'not-well-formed'),
  inside('reference cut by the quote', "<b x='&amp'/>", 'not-well-formed'),

  // Restricted XML (RFC 6120 §11.1)
  inside('comment inside an element', '<!-- c -->', 'restricted-xml', 'comments'),
  inside('processing instruction inside an element', '<?pi x?>', 'restricted-xml', 'processing instructions'),
  inside('DOCTYPE inside an element', '<!DOCTYPE a>', 'restricted-xml'),
  inside('ENTITY declaration', '<!ENTITY x "y">', 'restricted-xml'),
  f('comment at top level', '<!-- c --><a/>', [], 'restricted-xml', 'comments'),
  { name: 'DOCTYPE before the header', mode: 'stream', input: `${DECL}<!DOCTYPE stream>${HEADER}`, tokens: [], error: 'restricted-xml' },
  s('comment between stanzas', '<a/><!-- keepalive -->', ['el:a'], 'restricted-xml'),
  s('PI between stanzas', '<a/><?foo?>', ['el:a'], 'restricted-xml'),

  // UTF-8 and Chars
  inside('2-, 3- and 4-byte sequences', 'é € 😀 \u{10FFFF} \uFFFD \uE000'),
  inside('overlong 2-byte form', hex('c0 80'), 'not-well-formed', 'overlong'),
  inside('overlong 2-byte form (C1)', hex('c1 bf'), 'not-well-formed', 'overlong'),
  inside('overlong 3-byte form', hex('e0 80 80'), 'not-well-formed', 'overlong'),
  inside('overlong 4-byte form', hex('f0 80 80 80'), 'not-well-formed', 'overlong'),
  inside('UTF-16 surrogate', hex('ed a0 80'), 'not-well-formed', 'surrogate'),
  inside('code point above U+10FFFF', hex('f4 90 80 80'), 'not-well-formed', 'above U+10FFFF'),
  inside('lead byte F5', hex('f5 80 80 80'), 'not-well-formed', 'invalid lead'),
  inside('byte FF', hex('ff'), 'not-well-formed'),
  inside('stray continuation byte', hex('80'), 'not-well-formed', 'continuation'),
  inside('truncated 2-byte sequence', hex('c3'), 'not-well-formed', 'truncated'),
  inside('truncated 3-byte sequence', hex('e2 82'), 'not-well-formed', 'truncated'),
  inside('truncated 4-byte sequence followed by ASCII', hex('f0 9f 98 41'), 'not-well-formed', 'truncated'),
  inside('U+FFFE', hex('ef bf be'), 'not-well-formed', 'U+FFFE'),
  inside('U+FFFF', hex('ef bf bf'), 'not-well-formed', 'U+FFFF'),
  inside('U+FFFE in an attribute value', Buffer.concat([bytes("<b x='"), hex('ef bf be'), bytes("'/>")]), 'not-well-formed'),
  inside('invalid UTF-8 in an attribute value', Buffer.concat([bytes("<b x='"), hex('c3 28'), bytes("'/>")]), 'not-well-formed'),
  inside('invalid UTF-8 in CDATA', Buffer.concat([bytes('<![CDATA['), hex('ed bf bf'), bytes(']]>')]), 'not-well-formed'),
  inside('invalid UTF-8 in a name', Buffer.concat([bytes('<b'), hex('c3 28'), bytes('/>')]), 'not-well-formed'),
  inside('NUL in text', '\u0000', 'not-well-formed', 'control'),
  inside('vertical tab in text', '\u000b', 'not-well-formed'),
  inside('DEL is an XML character', '\u007f'),
  inside('C1 controls are XML characters', '\u0085\u009f'),
  f('invalid UTF-8 at top level', hex('c3 a9'), [], 'not-well-formed'),
  s('non-ASCII at stream level', 'é', [], 'bad-format'),

  // Limits
  { name: 'element of exactly maxElementBytes', mode: 'fragment', input: `<a>${'x'.repeat(93)}</a>`, tokens: ['el:a'], limits: { maxElementBytes: 100 } },
  {
    name: 'element one byte over maxElementBytes',
    mode: 'fragment',
    input: `<a>${'x'.repeat(94)}</a>`,
    tokens: [],
    error: 'policy-violation',
    text: 'exceeds 100 bytes',
    limits: { maxElementBytes: 100 },
  },
  {
    name: 'whitespace between elements does not count',
    mode: 'fragment',
    input: `${' '.repeat(200)}<a>${'x'.repeat(93)}</a>${' '.repeat(200)}<b/>`,
    tokens: ['el:a', 'el:b'],
    limits: { maxElementBytes: 100 },
  },
  {
    name: 'stream header over maxElementBytes',
    mode: 'stream',
    input: OPEN,
    tokens: [],
    error: 'policy-violation',
    text: 'stream header',
    limits: { maxElementBytes: 50 },
  },
  {
    name: 'the limit is per element, not per stream',
    mode: 'stream',
    input: `${OPEN}<a>${'x'.repeat(50)}</a><a>${'x'.repeat(50)}</a>`,
    tokens: ['open:stream:stream', 'el:a', 'el:a'],
    limits: { maxElementBytes: HEADER.length },
  },
  { name: 'nesting at maxDepth', mode: 'fragment', input: '<a><b><c/></b></a>', tokens: ['el:a'], limits: { maxDepth: 3 } },
  {
    name: 'nesting over maxDepth',
    mode: 'fragment',
    input: '<a><b><c><d/></c></b></a>',
    tokens: [],
    error: 'policy-violation',
    text: 'nesting',
    limits: { maxDepth: 3 },
  },
  {
    name: 'stream root does not count toward maxDepth',
    mode: 'stream',
    input: `${OPEN}<a><b/></a>`,
    tokens: ['open:stream:stream', 'el:a'],
    limits: { maxDepth: 2 },
  },
  { name: 'maxAttributes attributes', mode: 'fragment', input: "<a b='1' c='2'><d e='1' f='2'/></a>", tokens: ['el:a'], limits: { maxAttributes: 2 } },
  {
    name: 'one attribute too many on an inner element',
    mode: 'fragment',
    input: "<a b='1' c='2'><d e='1' f='2' g='3'/></a>",
    tokens: [],
    error: 'policy-violation',
    text: 'attributes',
    limits: { maxAttributes: 2 },
  },
];

function parts(input: Case['input']): Buffer[] {
  return (Array.isArray(input) ? input : [input]).map((x: string | Buffer) => bytes(x));
}

describe('XmlTokenizer rules', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const input = parts(c.input);
    const outcome = run(c.mode, input, whole, c.limits);
    expect(labels(outcome)).toEqual(c.tokens);
    if (c.error === undefined) {
      expect(outcome.error).toBeNull();
    } else {
      expect(outcome.error?.condition).toBe(c.error);
      if (c.text !== undefined) expect(outcome.error?.text).toContain(c.text);
    }
    expectSplitInvariant(c.mode, input, outcome, c.limits);
  });
});

// ---------------------------------------------------------------------------------------------

describe('XmlTokenizer tokens', () => {
  function feedAll(mode: TokenizerMode, input: string | Buffer): Token[] {
    const tokenizer = new XmlTokenizer(mode);
    const { tokens, error } = tokenizer.feed(bytes(input));
    expect(error).toBeNull();
    return tokens;
  }

  it('gives the stream header its exact bytes and decoded attributes, xmlns declarations included', () => {
    const header =
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='a&amp;b&#x27;&lt;' " +
      'from="example.org" version=\'1.0\' xml:lang=\'en\'>';
    const [open] = feedAll('stream', DECL + header) as [StreamOpenToken];
    expect(open.kind).toBe('stream-open');
    expect(open.name).toBe('stream:stream');
    expect(open.bytes.toString()).toBe(header);
    expect(open.attrs).toEqual([
      { name: 'xmlns', value: 'jabber:client' },
      { name: 'xmlns:stream', value: 'http://etherx.jabber.org/streams' },
      { name: 'id', value: "a&b'<" },
      { name: 'from', value: 'example.org' },
      { name: 'version', value: '1.0' },
      { name: 'xml:lang', value: 'en' },
    ]);
  });

  it('gives an element its exact bytes, name, nameEnd and top-level attributes only', () => {
    const stanza = "<message to='bob@example.org' type=\"chat\" id='a>b'><body x='inner'>hi &amp; bye</body></message>";
    const [, el] = feedAll('stream', `${OPEN} \n${stanza}\n `) as [StreamOpenToken, ElementToken];
    expect(el.kind).toBe('element');
    expect(el.bytes.toString()).toBe(stanza);
    expect(el.name).toBe('message');
    expect(el.bytes.subarray(0, el.nameEnd).toString()).toBe('<message');
    expect(el.attrs).toEqual([
      { name: 'to', value: 'bob@example.org' },
      { name: 'type', value: 'chat' },
      { name: 'id', value: 'a>b' },
    ]);
  });

  it('puts nameEnd right after a prefixed or non-ASCII name', () => {
    const [, features] = feedAll('stream', `${OPEN}<stream:features/>`) as [StreamOpenToken, ElementToken];
    expect(features.bytes.subarray(0, features.nameEnd).toString()).toBe('<stream:features');
    const [el] = feedAll('fragment', "<日本語 a='1'/>") as [ElementToken];
    expect(el.name).toBe('日本語');
    expect(el.bytes.subarray(el.nameEnd).toString()).toBe(" a='1'/>");
  });

  it('decodes references and normalizes whitespace in attribute values (XML 1.0 §3.3.3)', () => {
    const [el] = feedAll('fragment', "<a x='1\t2\n3\r\n4\r5' y='&#9;&#10;&#13;' z='&#x1F600;&#233;é'/>") as [ElementToken];
    expect(el.attrs).toEqual([
      { name: 'x', value: '1 2 3 4 5' },
      { name: 'y', value: '\t\n\r' },
      { name: 'z', value: '😀éé' },
    ]);
  });

  it('reads top-level attributes on first access, the same whatever the names and values hold', () => {
    const [el] = feedAll('fragment', "<日本語 属性='値' b = \"x&amp;y&#x41;\" c='1\t2\r\n3' xml:lang='en'><x y='inner'/></日本語>") as [ElementToken];
    const expected = [
      { name: '属性', value: '値' },
      { name: 'b', value: 'x&yA' },
      { name: 'c', value: '1 2 3' },
      { name: 'xml:lang', value: 'en' },
    ];
    expect(el.attrs).toEqual(expected);
    expect(el.attrs).toBe(el.attrs);
    // Serializing (logging) a token shows its attributes too.
    expect(JSON.parse(JSON.stringify(el)).attrs).toEqual(expected);
    const [bare] = feedAll('fragment', '<iq><query/></iq>') as [ElementToken];
    expect(bare.attrs).toEqual([]);
  });

  it.each([
    ['<message/>', ['']],
    ["<message xmlns='jabber:client'/>", []],
    ["<message xmlns=''/>", []],
    ['<stream:features><bind/></stream:features>', ['stream', '']],
    ["<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>", ['stream']],
    ["<stream:error><p:x/><stream:text/></stream:error>", ['stream', 'p']],
    ["<p:a xmlns:p='x'><b xmlns='y'><c/></b><d/></p:a>", ['']],
    ["<a xmlns='x'><b xmlns=''><c/></b></a>", []],
    ["<a xmlns='x' b:c='1'><d:e/></a>", ['b', 'd']],
    ["<a xmlns='x' xmlns:p='y'><p:b/><c p:d='1'/></a>", []],
    ["<a xmlns='x'><b xmlns:p='y'/><p:c/></a>", ['p']],
    ["<a xmlns='x'><p:b xmlns:p='y'/><p:c/></a>", ['p']],
    ["<a xmlns='x' xml:lang='en'><xml:b/></a>", []],
  ])('stream mode: %s relies on outer prefixes %j', (stanza, expected) => {
    const [, el] = feedAll('stream', OPEN + stanza) as [StreamOpenToken, ElementToken];
    expect(el.outerPrefixes).toEqual(expected);
  });

  it('emits an element lying in one chunk as a view of the chunk, and copies one that spans chunks', () => {
    const tokenizer = new XmlTokenizer('fragment');
    const chunk = Buffer.from('<a>one</a><b>t');
    const first = tokenizer.feed(chunk);
    const a = first.tokens[0] as ElementToken;
    expect(a.bytes.buffer).toBe(chunk.buffer);
    expect(a.bytes.byteOffset).toBe(chunk.byteOffset);
    expect(tokenizer.bufferedBytes).toBe(4);
    const second = Buffer.from('wo</b>');
    const b = tokenizer.feed(second).tokens[0] as ElementToken;
    expect(b.bytes.toString()).toBe('<b>two</b>');
    chunk.fill(0x20);
    second.fill(0x20);
    expect(b.bytes.toString()).toBe('<b>two</b>');
    expect(tokenizer.bufferedBytes).toBe(0);
  });

  it('accepts a plain Uint8Array and produces Buffers', () => {
    const tokenizer = new XmlTokenizer('fragment');
    const input = new TextEncoder().encode("<a x='é'>ü</a>");
    const [el] = tokenizer.feed(input).tokens as [ElementToken];
    expect(Buffer.isBuffer(el.bytes)).toBe(true);
    expect(el.bytes.toString()).toBe("<a x='é'>ü</a>");
    expect(el.attrs).toEqual([{ name: 'x', value: 'é' }]);
  });

  it('returns tokens completed before an error in the same chunk', () => {
    const tokenizer = new XmlTokenizer('stream');
    const result = tokenizer.feed(bytes(`${OPEN}<a/><b/><c>&bogus;</c><d/>`));
    expect(result.tokens.map((t) => t.kind)).toEqual(['stream-open', 'element', 'element']);
    expect(result.error?.condition).toBe('restricted-xml');
  });

  it('is dead after an error: the same error, no tokens, for feed() and end()', () => {
    const tokenizer = new XmlTokenizer('fragment');
    const first = tokenizer.feed(bytes('<a><!-- x --></a>'));
    expect(first.error?.condition).toBe('restricted-xml');
    const again = tokenizer.feed(bytes('<b/>'));
    expect(again.tokens).toEqual([]);
    expect(again.error).toBe(first.error);
    expect(tokenizer.end()).toBe(first.error);
    tokenizer.restart();
    expect(tokenizer.feed(bytes('<b/>')).error).toBe(first.error);
    expect(tokenizer.bufferedBytes).toBe(0);
  });

  it('counts buffered bytes of an incomplete element, never whitespace', () => {
    const tokenizer = new XmlTokenizer('stream');
    tokenizer.feed(bytes(OPEN));
    expect(tokenizer.bufferedBytes).toBe(0);
    tokenizer.feed(bytes('   \n  '));
    expect(tokenizer.bufferedBytes).toBe(0);
    tokenizer.feed(bytes(' <message><bo'));
    expect(tokenizer.bufferedBytes).toBe('<message><bo'.length);
    tokenizer.feed(bytes('dy>x</body></message>  '));
    expect(tokenizer.bufferedBytes).toBe(0);
  });

  it('restart() drops an element that can never complete', () => {
    const tokenizer = new XmlTokenizer('stream');
    tokenizer.feed(bytes(`${OPEN}<partial>`));
    expect(tokenizer.bufferedBytes).toBe(9);
    tokenizer.restart();
    expect(tokenizer.bufferedBytes).toBe(0);
    const { tokens, error } = tokenizer.feed(bytes(`${OPEN}<a/>`));
    expect(error).toBeNull();
    expect(tokens.map((t) => t.kind)).toEqual(['stream-open', 'element']);
  });

  it('fragment mode: end() makes the tokenizer ready for the next message', () => {
    const tokenizer = new XmlTokenizer('fragment');
    expect(tokenizer.feed(bytes(`${DECL}<a/>`)).tokens).toHaveLength(1);
    expect(tokenizer.end()).toBeNull();
    // A new message may start with a declaration again.
    expect(tokenizer.feed(bytes(`${DECL}<b/>`)).tokens).toHaveLength(1);
    expect(tokenizer.end()).toBeNull();
  });

  it('stream mode: end() fails only when something partial is buffered', () => {
    const open = new XmlTokenizer('stream');
    open.feed(bytes(`${OPEN}<a/> `));
    expect(open.end()).toBeNull();
    const partial = new XmlTokenizer('stream');
    partial.feed(bytes(`${OPEN}<a`));
    expect(partial.end()?.condition).toBe('not-well-formed');
  });
});

// ---------------------------------------------------------------------------------------------

describe('XmlTokenizer on a recorded Prosody 0.12 login', () => {
  const transcript = readFileSync(join(__dirname, '../fixtures/prosody-login.xml'));
  // The server starts a new document after each stream restart (RFC 6120 §4.3.3): after
  // <success/>, the gateway calls restart() before the server's next bytes can arrive.
  const restartAt = transcript.indexOf("<?xml version='1.0'?>", 1);
  const documents = [transcript.subarray(0, restartAt), transcript.subarray(restartAt)];
  const expected = run('stream', documents, whole);

  it('tokenizes the whole transcript', () => {
    expect(expected.error).toBeNull();
    expect(labels(expected)).toEqual([
      'open:stream:stream',
      'el:stream:features',
      'el:challenge',
      'el:success',
      'open:stream:stream',
      'el:stream:features',
      'el:iq',
      'el:iq',
      'el:enabled',
      'el:iq',
      'el:presence',
      'el:presence',
      'el:message',
      'el:message',
      'el:iq',
      'el:message',
      'el:message',
      'el:r',
      'el:message',
      'close',
    ]);
    // Every byte outside the tokens is whitespace: nothing was lost or invented.
    const tokenizer = new XmlTokenizer('stream');
    let rest = transcript.toString();
    for (const document of documents) {
      tokenizer.restart();
      for (const token of tokenizer.feed(document).tokens) {
        if (token.kind === 'stream-close') continue;
        const text = token.bytes.toString();
        const at = rest.indexOf(text);
        expect(rest.slice(0, at).replace(/<\?xml[^?]*\?>/, '').trim()).toBe('');
        rest = rest.slice(at + text.length);
      }
    }
    expect(rest).toBe('</stream:stream>');
  });

  it('decodes multi-byte attribute values of top-level elements', () => {
    const tokenizer = new XmlTokenizer('stream');
    const tokens = documents.flatMap((d) => {
      tokenizer.restart();
      return tokenizer.feed(d).tokens;
    });
    const presence = tokens.find(
      (t): t is ElementToken => t.kind === 'element' && t.name === 'presence' && t.attrs[0]!.value.includes('телефон'),
    );
    expect(presence?.attrs[0]).toEqual({ name: 'from', value: 'dmitri@example.ru/телефон' });
    expect(presence?.outerPrefixes).toEqual(['']);
  });

  it('gives the same tokens at every split point and byte by byte', () => {
    expectSplitInvariant('stream', documents, expected);
  });

  it('gives the same tokens in chunks of every size from 2 to 64', () => {
    for (let size = 2; size <= 64; size++) {
      const chunker: Chunker = (part) => {
        const chunks: Buffer[] = [];
        for (let i = 0; i < part.length; i += size) chunks.push(part.subarray(i, i + size));
        return chunks;
      };
      expect(run('stream', documents, chunker)).toEqual(expected);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('XmlTokenizer memory bound', () => {
  it('rejects a 10 MB element against a 256 KiB limit without buffering more than the limit', () => {
    const limit = 256 * 1024;
    const tokenizer = new XmlTokenizer('stream', { maxElementBytes: limit });
    expect(tokenizer.feed(bytes(OPEN)).error).toBeNull();
    const body = Buffer.alloc(64 * 1024, 'x');
    let fed = 0;
    let error: TokenizerError | null = tokenizer.feed(bytes('<message><body>')).error;
    fed += '<message><body>'.length;
    while (error === null && fed < 10 * 1024 * 1024) {
      const result = tokenizer.feed(body);
      fed += body.length;
      expect(tokenizer.bufferedBytes).toBeLessThanOrEqual(limit);
      error = result.error;
    }
    expect(error?.condition).toBe('policy-violation');
    // It failed in the chunk carrying byte limit + 1, not later.
    expect(fed).toBeGreaterThan(limit);
    expect(fed - body.length).toBeLessThanOrEqual(limit);
    expect(tokenizer.bufferedBytes).toBe(0);
  });

  it('fails on the first byte over the limit even when the element arrives in one chunk', () => {
    const tokenizer = new XmlTokenizer('fragment', { maxElementBytes: 1024 });
    const huge = Buffer.concat([bytes('<a>'), Buffer.alloc(10 * 1024 * 1024, 'y'), bytes('</a>')]);
    const { error } = tokenizer.feed(huge);
    expect(error?.condition).toBe('policy-violation');
    expect(tokenizer.bufferedBytes).toBe(0);
  });
});

// Idle tokenizers hold no scratch: it is lent to whichever one is inside feed() and kept only while
// a construct is partially buffered. Interleaving many tokenizers byte by byte must not mix them up.
describe('XmlTokenizer scratch shared between instances', () => {
  const summary = (tokens: readonly Token[]): string[] =>
    tokens.map((t) => (t.kind === 'stream-close' ? 'close' : `${t.kind}:${t.bytes.toString('utf8')}`));
  const scripts = [
    `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><message to='a@b' id='1'><body>hi &amp; bye</body></message><iq type='get' id='2'><query xmlns='jabber:iq:roster'/></iq></stream:stream>`,
    `<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'><presence/><message><x xmlns='urn:x' a='1' b='2' c='3'><y><z/></y></x></message></s:stream>`,
    `<ström:stream xmlns:ström='http://etherx.jabber.org/streams'><ström:features/><a xmlns='urn:a'>ü</a></ström:stream>`,
    `<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><a xmlns='urn:a'/></stream:streak>`,
  ].map((s) => Buffer.from(s, 'utf8'));

  function alone(script: Buffer): { tokens: string[]; error: string | null } {
    const { tokens, error } = new XmlTokenizer('stream').feed(script);
    return { tokens: summary(tokens), error: error?.condition ?? null };
  }

  it('gives each of several interleaved stream tokenizers the tokens it gives alone', () => {
    const tokenizers = scripts.map(() => new XmlTokenizer('stream'));
    const got = scripts.map(() => ({ tokens: [] as string[], error: null as string | null }));
    const longest = Math.max(...scripts.map((s) => s.length));
    for (let i = 0; i < longest; i++) {
      scripts.forEach((script, k) => {
        if (i >= script.length || got[k]!.error !== null) return;
        const { tokens, error } = tokenizers[k]!.feed(script.subarray(i, i + 1));
        got[k]!.tokens.push(...summary(tokens));
        got[k]!.error = error?.condition ?? null;
      });
    }
    expect(got).toEqual(scripts.map(alone));
    expect(got[3]!.error).toBe('not-well-formed');
    expect(got[2]!.tokens.at(-1)).toBe('close');
  });
});

// ---------------------------------------------------------------------------------------------
// Many attributes and many namespace declarations on one tag: legal XML well under the size
// limit must pass, duplicates must still be caught wherever they are, and scope must still hold.

describe('XmlTokenizer with many attributes and declarations', () => {
  const attrs = (n: number, name = (i: number) => `a${i}`): string => Array.from({ length: n }, (_, i) => ` ${name(i)}='${i}'`).join('');
  const decls = (n: number): string => Array.from({ length: n }, (_, i) => ` xmlns:p${i}='urn:p${i}'`).join('');

  function expectOutcome(mode: TokenizerMode, input: string, tokens: string[], error?: TokenizerCondition, text?: string): Outcome {
    const outcome = run(mode, [bytes(input)], whole);
    expect(labels(outcome)).toEqual(tokens);
    expect(outcome.error?.condition ?? null).toBe(error ?? null);
    if (text !== undefined) expect(outcome.error?.text).toContain(text);
    return outcome;
  }

  it('relays 200 attributes on a stanza and on an inner element, at every split point', () => {
    const stanza = `<message${attrs(200)}><x${attrs(200)}/></message>`;
    const outcome = expectOutcome('fragment', stanza, ['el:message']);
    const el = (outcome.tokens[0] as { attrs: { name: string; value: string }[] }).attrs;
    expect(el).toHaveLength(200);
    expect(el[199]).toEqual({ name: 'a199', value: '199' });
    expectSplitInvariant('fragment', [bytes(stanza)], outcome);
    const streamed = expectOutcome('stream', OPEN + stanza + stanza, ['open:stream:stream', 'el:message', 'el:message']);
    expect(run('stream', [bytes(OPEN + stanza + stanza)], singleBytes)).toEqual(streamed);
  });

  it('takes 15 000 attributes (only the size limit binds) and refuses the element once it is too big', () => {
    const big = `<a${attrs(15_000)}/>`;
    expectOutcome('fragment', big, ['el:a']);
    const limited = run('fragment', [bytes(big)], whole, { maxElementBytes: 100_000 });
    expect(limited.error?.condition).toBe('policy-violation');
  });

  it.each([
    ['the first name repeated last', 200, 0],
    ['just past the direct comparisons', 17, 16],
    ['after the hash set has grown', 150, 149],
    ['a prefixed name', 100, 42],
  ])('catches a duplicate among many attributes: %s', (_, count, repeat) => {
    const name = (i: number): string => (i === 42 ? 'xml:lang' : `a${i}`);
    const input = `<ok/><a${attrs(count, name)} ${name(repeat)}='again'/>`;
    const outcome = expectOutcome('fragment', input, ['el:ok'], 'not-well-formed', 'duplicate');
    expectSplitInvariant('fragment', [bytes(input)], outcome);
  });

  it('starts each tag with an empty set: sibling and nested tags may reuse names', () => {
    const input = `<a${attrs(100)}><b${attrs(100)}/><c${attrs(100)}><d${attrs(100)}/></c></a><e${attrs(100)}/>`;
    expectOutcome('fragment', input, ['el:a', 'el:e']);
  });

  it('tells apart names that share a prefix or differ in one byte', () => {
    const names = Array.from({ length: 256 }, (_, i) => `n${String.fromCharCode(0x41 + (i % 26))}${Math.floor(i / 26)}`);
    const input = `<a${names.map((n, i) => ` ${n}='${i}' ${n}x='${i}'`).join('')}/>`;
    expectOutcome('fragment', input, ['el:a']);
  });

  it('resolves prefixes against hundreds of declarations, and drops them with their element', () => {
    const uses = Array.from({ length: 300 }, (_, i) => ` p${i}:x='${i}'`).join('');
    expectOutcome('fragment', `<a${decls(300)}${uses}><p0:b${uses}/></a>`, ['el:a']);
    // Declared on <b>, out of scope on its sibling <p5:c>.
    expectOutcome('fragment', `<a><b${decls(300)}${uses}/><p5:c/></a>`, [], 'not-well-formed', 'unbound');
    expectOutcome('fragment', `<a><b${decls(300)}/><c${decls(40)}/><p299:c/></a>`, [], 'not-well-formed', 'unbound');
    expectOutcome('fragment', `<a${decls(300)}><b${decls(300)}/><p299:c/></a>`, ['el:a']);
  });

  it('lists hundreds of outer prefixes once each, in first-use order', () => {
    const uses = Array.from({ length: 300 }, (_, i) => ` q${i}:x='1'`).join('');
    const outcome = expectOutcome('stream', `${OPEN}<a${uses}><q7:b${uses}/></a>`, ['open:stream:stream', 'el:a']);
    const el = outcome.tokens[1] as { outerPrefixes: string[] };
    expect(el.outerPrefixes).toEqual(['', ...Array.from({ length: 300 }, (_, i) => `q${i}`)]);
  });
});
