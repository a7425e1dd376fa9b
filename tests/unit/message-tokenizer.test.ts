import { MessageTokenizer } from '../../src/xml/message-tokenizer';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('MessageTokenizer', () => {
  it('tokenizes each message on its own, whatever came before', () => {
    const t = new MessageTokenizer({ maxElementBytes: 1000 });
    expect(t.tokenize(b('<a/><b x="1"/>')).tokens.map((x) => (x.kind === 'element' ? x.name : x.kind))).toEqual(['a', 'b']);
    // An incomplete message is an error for that message only...
    expect(t.tokenize(b('<c>')).error).toMatchObject({ condition: 'not-well-formed' });
    // ...and neither it nor a restricted one leaks into the next message.
    expect(t.tokenize(b('<!-- x -->')).error).toMatchObject({ condition: 'restricted-xml' });
    const next = t.tokenize(b('</c><d/>'));
    expect(next.error).toMatchObject({ condition: 'not-well-formed' });
    const ok = t.tokenize(b('<e><f/></e>'));
    expect(ok.error).toBeNull();
    expect(ok.tokens).toHaveLength(1);
  });

  it('stream mode: each input is a whole document (a BOSH body), before and after a bad one', () => {
    const t = new MessageTokenizer({ maxElementBytes: 1000 }, 'stream');
    const kinds = (input: string) => t.tokenize(b(input)).tokens.map((x) => x.kind);
    expect(kinds("<body xmlns='x'><a/></body>")).toEqual(['stream-open', 'element', 'stream-close']);
    expect(kinds("<body xmlns='x'/>")).toEqual(['stream-open', 'stream-close']);
    expect(t.tokenize(b("<body xmlns='x'><a>")).error).toMatchObject({ condition: 'not-well-formed' });
    expect(kinds("<?xml version='1.0'?><body xmlns='x'><b/></body>")).toEqual(['stream-open', 'element', 'stream-close']);
  });

  it('keeps tokens of one message valid after later messages', () => {
    const t = new MessageTokenizer({});
    const first = t.tokenize(b("<m xmlns='jabber:client' to='a'><body>1</body></m>")).tokens[0]!;
    t.tokenize(b("<n to='b'/>"));
    expect(first.kind === 'element' && first.attrs).toEqual([{ name: 'xmlns', value: 'jabber:client' }, { name: 'to', value: 'a' }]);
  });
});
