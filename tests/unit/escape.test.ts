import fc from 'fast-check';
import { escapeAttr, escapeText } from '../../src/xml/escape';
import { XmlTokenizer } from '../../src/xml/tokenizer';
import type { ElementToken } from '../../src/xml/tokens';

/** Reads an attribute value back through our own tokenizer (which normalizes like any XML parser). */
function readAttr(xml: string): string {
  const tokenizer = new XmlTokenizer('fragment');
  const { tokens, error } = tokenizer.feed(Buffer.from(xml));
  expect(error).toBeNull();
  return (tokens[0] as ElementToken).attrs[0]!.value;
}

describe('escapeAttr', () => {
  it.each([
    ['plain', 'plain'],
    ['', ''],
    ['a&b', 'a&amp;b'],
    ['<x>', '&lt;x&gt;'],
    [`"it's"`, '&quot;it&apos;s&quot;'],
    ['a\tb\nc\rd', 'a&#x9;b&#xA;c&#xD;d'],
    ['&amp;', '&amp;amp;'],
    ['日本 😀', '日本 😀'],
  ])('%j → %j', (value, escaped) => {
    expect(escapeAttr(value)).toBe(escaped);
  });

  it('returns the same string when nothing needs escaping', () => {
    const value = 'alice@example.org/résumé';
    expect(escapeAttr(value)).toBe(value);
  });

  it('replaces what XML cannot carry with U+FFFD', () => {
    expect(escapeAttr('a\u0000b\u001fc\uFFFEd\uFFFF')).toBe('a\uFFFDb\uFFFDc\uFFFDd\uFFFD');
    expect(escapeAttr('x\uD800y')).toBe('x\uFFFDy');
    expect(escapeAttr('x\uDC00y')).toBe('x\uFFFDy');
    expect(escapeAttr('\uD83D\uDE00')).toBe('😀');
  });

  it('round-trips any string through both quote styles', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const expected = value.replace(/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g, '\uFFFD');
        expect(readAttr(`<a x='${escapeAttr(value)}'/>`)).toBe(expected);
        expect(readAttr(`<a x="${escapeAttr(value)}"/>`)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('escapeText', () => {
  it.each([
    ['plain', 'plain'],
    ['a & b < c > d', 'a &amp; b &lt; c &gt; d'],
    ['x]]>y', 'x]]&gt;y'],
    ['line\r\nend', 'line&#xD;\nend'],
    [`"quotes' stay`, `"quotes' stay`],
    ['tab\tand\nnewline stay', 'tab\tand\nnewline stay'],
    ['nul\u0000', 'nul\uFFFD'],
  ])('%j → %j', (value, escaped) => {
    expect(escapeText(value)).toBe(escaped);
  });

  it('always yields well-formed character data', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const tokenizer = new XmlTokenizer('fragment');
        const { error } = tokenizer.feed(Buffer.from(`<a>${escapeText(value)}</a>`));
        expect(error).toBeNull();
      }),
      { numRuns: 300 },
    );
  });
});
