import { classifyLegacyMessage, legacyStreamHeader } from '../../src/transports/websocket/legacy';

const b = (s: string) => Buffer.from(s, 'utf8');
const HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

describe('classifyLegacyMessage', () => {
  it('recognises a stream header, with or without an XML declaration', () => {
    for (const msg of [HEADER, `<?xml version='1.0'?>${HEADER}`, `  ${HEADER}\n`]) {
      const r = classifyLegacyMessage(b(msg), { maxElementBytes: 10_000 });
      expect(r.kind).toBe('header');
      if (r.kind === 'header') expect(r.attrs.find((a) => a.name === 'to')?.value).toBe('localhost');
    }
  });
  it('recognises the footer', () => {
    expect(classifyLegacyMessage(b('</stream:stream>'), { maxElementBytes: 10_000 })).toEqual({ kind: 'footer' });
    expect(classifyLegacyMessage(b(' </stream:stream >\n'), { maxElementBytes: 10_000 })).toEqual({ kind: 'footer' });
  });
  it('leaves RFC 7395 framing and stanzas alone', () => {
    for (const msg of ['<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="x"/>', '<message/>', '<streamer/>', "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>"]) {
      expect(classifyLegacyMessage(b(msg), { maxElementBytes: 10_000 })).toEqual({ kind: 'other' });
    }
  });
  it('refuses broken or foreign headers', () => {
    expect(classifyLegacyMessage(b("<stream:stream xmlns:stream='urn:other'>"), { maxElementBytes: 10_000 })).toMatchObject({ kind: 'invalid', condition: 'invalid-namespace' });
    expect(classifyLegacyMessage(b(`${HEADER}<message/>`), { maxElementBytes: 10_000 })).toMatchObject({ kind: 'invalid', condition: 'not-well-formed' });
    expect(classifyLegacyMessage(b("<stream:stream a='1' a='2'>"), { maxElementBytes: 10_000 })).toMatchObject({ kind: 'invalid', condition: 'not-well-formed' });
    expect(classifyLegacyMessage(b("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x"), { maxElementBytes: 10_000 })).toMatchObject({ kind: 'invalid' });
  });
  it('writes a parseable header of its own', () => {
    expect(legacyStreamHeader("a'b")).toBe(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='a&apos;b' version='1.0'>",
    );
  });
});
