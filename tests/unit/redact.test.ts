import { TRACE_MAX_BYTES, traceView } from '../../src/xmpp/redact';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('traceView', () => {
  it.each([
    ['auth', "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>"],
    ['response', "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdzLHI9</response>"],
    ['challenge', "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1meWtvK2Qy</challenge>"],
    ['success', "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ybUY5cHFWOFM=</success>"],
    ['iq', "<iq type='set'><query xmlns='jabber:iq:register'><username>a</username><PassWord>s3cret</PassWord></query></iq>"],
  ])('redacts <%s> credentials', (name, xml) => {
    const view = traceView(name, b(xml));
    expect(view).toBe(`<${name}> [${b(xml).length} bytes redacted: credentials]`);
    expect(view).not.toMatch(/AGFsaWNl|Yz1i|cj1m|dj1y|s3cret/);
  });

  it('shows other elements, cut on a character boundary', () => {
    expect(traceView('message', b('<message><body>hi</body></message>'))).toBe('<message><body>hi</body></message>');
    const long = `<message><body>${'é'.repeat(400)}</body></message>`;
    const view = traceView('message', b(long));
    expect(view).toMatch(/… \[\d+ bytes\]$/);
    expect(Buffer.byteLength(view.split('…')[0]!)).toBeLessThanOrEqual(TRACE_MAX_BYTES);
    expect(view).not.toContain('\ufffd');
  });
});
