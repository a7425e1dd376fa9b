import { BodyReader, type BoshRequest } from '../../../src/transports/bosh/request';

const NS = "xmlns='http://jabber.org/protocol/httpbind'";
const XB = "xmlns:xmpp='urn:xmpp:xbosh'";
const reader = (): BodyReader => new BodyReader({ maxElementBytes: 10_000, maxDepth: 16 });

function ok(xml: string, r = reader()): BoshRequest {
  const result = r.read(Buffer.from(xml));
  if (!result.ok) throw new Error(`expected ok, got ${result.condition}: ${result.text}`);
  return result.request;
}

function bad(xml: string, r = reader()): { condition: string; text: string } {
  const result = r.read(Buffer.from(xml));
  if (result.ok) throw new Error('expected a failure');
  return result;
}

describe('BodyReader: session creation (XEP-0124 §7.1, XEP-0206 §3)', () => {
  it('reads every creation attribute', () => {
    const req = ok(`<?xml version='1.0'?><body content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='example.org' ver='1.6' wait='60' ack='1' xml:lang='en' xmpp:version='1.0' ${NS} ${XB}/>`);
    expect(req).toMatchObject({ rid: 1573741820, sid: null, to: 'example.org', lang: 'en', ver: '1.6', xmppVersion: '1.0', wait: 60, hold: 1, ack: 1, restart: false, terminate: false });
    expect(req.payload).toEqual([]);
  });

  it('accepts any prefix bound to urn:xmpp:xbosh', () => {
    expect(ok(`<body rid='1' to='x' ${NS} xmlns:x='urn:xmpp:xbosh' x:version='1.0'/>`).xmppVersion).toBe('1.0');
  });

  it('needs a to attribute: improper-addressing (§17.2)', () => {
    expect(bad(`<body rid='1' wait='60' hold='1' ${NS}/>`).condition).toBe('improper-addressing');
  });
});

describe('BodyReader: payloads', () => {
  it('gives stanzas that inherit the httpbind namespace jabber:client (XEP-0206 §2 note)', () => {
    const req = ok(`<body rid='2' sid='s' ${NS}><message to='a@b'><body>hi</body></message><iq xmlns='jabber:client' type='get' id='1'/></body>`);
    expect(req.payload.map((e) => String(e.bytes))).toEqual([
      `<message xmlns="jabber:client" to='a@b'><body>hi</body></message>`,
      `<iq xmlns='jabber:client' type='get' id='1'/>`,
    ]);
  });

  it('keeps the bytes of elements in their own namespace', () => {
    const auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>";
    expect(ok(`<body rid='2' sid='s' ${NS}>${auth}</body>`).payload.map((e) => String(e.bytes))).toEqual([auth]);
  });

  it('declares prefixes a child inherits from <body/>', () => {
    const req = ok(`<body rid='2' sid='s' ${NS} xmlns:foo='urn:foo'><foo:x/></body>`);
    expect(req.payload.map((e) => String(e.bytes))).toEqual([`<foo:x xmlns:foo="urn:foo"/>`]);
  });

  it('keeps multi-byte UTF-8 intact', () => {
    expect(String(ok(`<body rid='2' sid='s' ${NS}><message xmlns='jabber:client'><body>héllo ☃ 😀</body></message></body>`).payload[0]!.bytes)).toContain('héllo ☃ 😀');
  });

  it('reads restart and terminate', () => {
    expect(ok(`<body rid='3' sid='s' to='x' xml:lang='en' xmpp:restart='true' ${NS} ${XB}/>`).restart).toBe(true);
    const t = ok(`<body rid='4' sid='s' type='terminate' ${NS}><presence type='unavailable' xmlns='jabber:client'/></body>`);
    expect(t.terminate).toBe(true);
    expect(t.payload).toHaveLength(1);
  });

  it('reads pause', () => {
    expect(ok(`<body rid='4' sid='s' pause='60' ${NS}/>`).pause).toBe(60);
  });
});

describe('BodyReader: bad-request', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not XML', 'hello', /well-formed|body/],
    ['empty', '', /empty/],
    ['truncated', `<body rid='1' ${NS}><message>`, /well-formed/],
    ['wrong root', `<html ${NS}/>`, /body/],
    ['wrong namespace', "<body rid='1' to='x' xmlns='jabber:client'/>", /httpbind/],
    ['no namespace', "<body rid='1' to='x'/>", /httpbind/],
    ['no rid', `<body to='x' ${NS}/>`, /rid/],
    ['rid 0', `<body rid='0' to='x' ${NS}/>`, /rid/],
    ['rid not a number', `<body rid='12a' to='x' ${NS}/>`, /rid/],
    ['rid above 2^53-1', `<body rid='9007199254740992' to='x' ${NS}/>`, /rid/],
    ['negative wait', `<body rid='1' to='x' wait='-1' ${NS}/>`, /wait/],
    ['bad ver', `<body rid='1' to='x' ver='one' ${NS}/>`, /ver/],
    ['unknown type', `<body rid='1' sid='s' type='error' ${NS}/>`, /type/],
    ['restart without sid', `<body rid='1' to='x' xmpp:restart='true' ${NS} ${XB}/>`, /restart/],
    ['terminate without sid', `<body rid='1' to='x' type='terminate' ${NS}/>`, /terminate/],
    ['unbound prefix on body', `<body rid='1' to='x' xmpp:version='1.0' ${NS}/>`, /prefix|well-formed/],
    ['unbound prefix in a child', `<body rid='1' sid='s' ${NS}><foo:x/></body>`, /prefix/],
    ['text in body', `<body rid='1' sid='s' ${NS}>hello</body>`, /well-formed/],
    ['two bodies', `<body rid='1' sid='s' ${NS}/><body rid='2' sid='s' ${NS}/>`, /well-formed/],
    ['a comment', `<body rid='1' sid='s' ${NS}><!-- x --></body>`, /well-formed/],
  ];
  it.each(cases)('%s', (_name, xml, text) => {
    const result = bad(xml);
    expect(result.condition).toBe('bad-request');
    expect(result.text).toMatch(text);
  });

  it('an element over the size limit is policy-violation', () => {
    const result = bad(`<body rid='1' sid='s' ${NS}><message xmlns='jabber:client'><body>${'x'.repeat(20_000)}</body></message></body>`);
    expect(result.condition).toBe('policy-violation');
  });

  it('a reader keeps working after a bad body', () => {
    const r = reader();
    bad('<body', r);
    bad(`<body rid='x' ${NS}/>`, r);
    expect(ok(`<body rid='5' sid='s' ${NS}><presence xmlns='jabber:client'/></body>`, r).rid).toBe(5);
    expect(ok(`<body rid='6' sid='s' ${NS}/>`, r).rid).toBe(6);
  });
});
