import * as ltx from 'ltx';
import { classifyClientElement, closeElement, openElement, openFromStreamHeader } from '../../src/transports/websocket/rfc7395';
import { namespaceScope, toStandaloneElement } from '../../src/xml/standalone';
import { streamHeaderFromOpen } from '../../src/xmpp/stream';
import { XmlTokenizer } from '../../src/xml/tokenizer';
import type { ElementToken, StreamOpenToken } from '../../src/xml/tokens';

const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/** Elements of one client message, through the real tokenizer. */
function clientElements(xml: string): ElementToken[] {
  const t = new XmlTokenizer('fragment');
  const { tokens, error } = t.feed(Buffer.from(xml));
  expect(error).toBeNull();
  expect(t.end()).toBeNull();
  return tokens as ElementToken[];
}

/** Header and elements of a server stream, through the real tokenizer. */
function serverTokens(xml: string): { header: StreamOpenToken; elements: ElementToken[] } {
  const t = new XmlTokenizer('stream');
  const { tokens, error } = t.feed(Buffer.from(xml));
  expect(error).toBeNull();
  const [header, ...rest] = tokens;
  expect(header!.kind).toBe('stream-open');
  return { header: header as StreamOpenToken, elements: rest.filter((x): x is ElementToken => x.kind === 'element') };
}

const SERVER_HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
  "id='abc&amp;1' from='example.org' to='alice@example.org' version='1.0' xml:lang='en'>";

describe('client messages (RFC 7395 §3.3, §3.4, §3.6)', () => {
  it('recognises <open/> and <close/> only in the framing namespace', () => {
    const [open] = clientElements(`<open xmlns="${NS_FRAMING}" to="example.org" version="1.0"/>`);
    expect(classifyClientElement(open!)).toMatchObject({ kind: 'open' });
    const [close] = clientElements(`<close xmlns='${NS_FRAMING}'/>`);
    expect(classifyClientElement(close!)).toEqual({ kind: 'close' });
    const [badOpen] = clientElements('<open xmlns="jabber:client" to="example.org"/>');
    expect(classifyClientElement(badOpen!)).toMatchObject({ kind: 'bad-framing' });
    const [noNs] = clientElements('<close/>');
    expect(classifyClientElement(noNs!)).toMatchObject({ kind: 'bad-framing' });
  });
  it('treats everything else as a stanza', () => {
    const [msg] = clientElements('<message xmlns="jabber:client" to="b@x"><body>open</body></message>');
    expect(classifyClientElement(msg!)).toEqual({ kind: 'stanza' });
  });
});

describe('open → stream header (RFC 6120 §4.7)', () => {
  it('copies only to/from/version/xml:lang, re-escaped', () => {
    const [open] = clientElements(
      `<open xmlns="${NS_FRAMING}" to="ex&amp;ample.org" from="a@b" version="1.0" xml:lang="en" id="client-set" evil="x'&gt;"/>`,
    );
    const header = streamHeaderFromOpen((open as ElementToken).attrs);
    expect(header).toBe(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
        "to='ex&amp;ample.org' from='a@b' version='1.0' xml:lang='en'>",
    );
    // The header is a well-formed start tag: closing it gives a parseable document.
    const doc = ltx.parse(`${header.replace("<?xml version='1.0'?>", '')}</stream:stream>`);
    expect(doc.attrs.to).toBe('ex&ample.org');
    expect(doc.attrs.id).toBeUndefined();
  });
  it('cannot be broken out of by quotes in values', () => {
    const [open] = clientElements(`<open xmlns="${NS_FRAMING}" to="a'/&gt;&lt;x y='"/>`);
    const header = streamHeaderFromOpen(open!.attrs);
    const doc = ltx.parse(`${header.replace("<?xml version='1.0'?>", '')}</stream:stream>`);
    expect(doc.attrs.to).toBe("a'/><x y='");
    expect(doc.children).toHaveLength(0);
  });
});

describe('server header → <open/>', () => {
  it('carries from/id/version/xml:lang in the framing namespace', () => {
    const { header } = serverTokens(SERVER_HEADER);
    const open = ltx.parse(openFromStreamHeader(header));
    expect(open.name).toBe('open');
    expect(open.attrs).toEqual({ xmlns: NS_FRAMING, from: 'example.org', id: 'abc&1', version: '1.0', 'xml:lang': 'en' });
  });
  it('writes <close/>, optionally redirecting (RFC 7395 §3.6.1)', () => {
    expect(closeElement()).toBe(`<close xmlns="${NS_FRAMING}"/>`);
    expect(ltx.parse(closeElement('wss://other.example/ws?a=1&b=2')).attrs['see-other-uri']).toBe('wss://other.example/ws?a=1&b=2');
    expect(ltx.parse(openElement([{ name: 'from', value: 'x' }])).attrs).toEqual({ xmlns: NS_FRAMING, from: 'x' });
  });
});

describe('server elements become standalone messages (RFC 7395 §3.3.3)', () => {
  const stream =
    SERVER_HEADER +
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>" +
    "<message to='a@b' from='c@d'><body>x &gt; y</body></message>" +
    "<iq xmlns='jabber:client' type='result' id='1'/>" +
    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";

  it('adds xmlns="jabber:client" and xmlns:stream only where missing', () => {
    const { header, elements } = serverTokens(stream);
    const scope = namespaceScope(header);
    const out = elements.map((e) => toStandaloneElement(e, scope)!.toString('utf8'));
    expect(out[0]).toBe(
      `<stream:features xmlns:stream="http://etherx.jabber.org/streams"><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
    );
    expect(out[1]).toBe(`<message xmlns="jabber:client" to='a@b' from='c@d'><body>x &gt; y</body></message>`);
    // Already standalone: the very same bytes, not a copy.
    expect(toStandaloneElement(elements[2]!, scope)).toBe(elements[2]!.bytes);
    expect(out[3]).toBe("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    for (const xml of out) expect(() => ltx.parse(xml)).not.toThrow();
  });

  it('refuses an element whose prefix the header never declared', () => {
    const { header, elements } = serverTokens(SERVER_HEADER + '<foo:bar/>');
    expect(toStandaloneElement(elements[0]!, namespaceScope(header))).toBeNull();
  });
});
