import * as ltx from 'ltx';
import { bodyXml, creationBody, negotiateVersion, terminateBody } from '../../../src/transports/bosh/response';
import { terminateStatus } from '../../../src/transports/bosh/conditions';

const parse = (b: Buffer): ltx.Element => ltx.parse(b.toString('utf8'));

describe('BOSH response bodies', () => {
  it('an empty body is one self-closed element in the httpbind namespace', () => {
    expect(String(bodyXml([]))).toBe("<body xmlns='http://jabber.org/protocol/httpbind'/>");
  });

  it('children stay whole and the body declares xmlns:stream (XEP-0206 §2)', () => {
    const features = Buffer.from('<stream:features xmlns:stream="http://etherx.jabber.org/streams"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>');
    const msg = Buffer.from('<message xmlns="jabber:client" to="a@b"><body>x &amp; y</body></message>');
    const el = parse(bodyXml([['ack', 5]], [features, msg]));
    expect(el.attrs).toMatchObject({ xmlns: 'http://jabber.org/protocol/httpbind', 'xmlns:stream': 'http://etherx.jabber.org/streams', ack: '5' });
    expect(el.children.map((c) => (c as ltx.Element).name)).toEqual(['stream:features', 'message']);
    expect((el.getChild('message') as ltx.Element).getChildText('body')).toBe('x & y');
  });

  it('the creation response carries every XEP-0124 §7.2 / XEP-0206 §3 attribute', () => {
    const el = parse(creationBody({ sid: 'abc', wait: 50, hold: 1, polling: 2, inactivity: 60, maxpause: 120, ver: '1.6', from: 'example.org', authid: 'st1', secure: false, ack: undefined }, []));
    expect(el.attrs).toEqual({
      xmlns: 'http://jabber.org/protocol/httpbind', 'xmlns:xmpp': 'urn:xmpp:xbosh', sid: 'abc', wait: '50', requests: '2', hold: '1', polling: '2',
      inactivity: '60', maxpause: '120', ver: '1.6', from: 'example.org', authid: 'st1', secure: 'false', 'xmpp:version': '1.0', 'xmpp:restartlogic': 'true',
    });
  });

  it('attribute values are escaped', () => {
    expect(parse(bodyXml([['from', `a'b<c&"`]])).attrs.from).toBe(`a'b<c&"`);
  });

  it('terminate carries the condition and, for remote-stream-error, the stream error', () => {
    const err = Buffer.from("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    const el = parse(terminateBody('remote-stream-error', [err]));
    expect(el.attrs).toMatchObject({ type: 'terminate', condition: 'remote-stream-error' });
    expect((el.getChild('error') as ltx.Element).getChild('conflict')).toBeDefined();
    expect(parse(terminateBody(null)).attrs).toEqual({ xmlns: 'http://jabber.org/protocol/httpbind', type: 'terminate' });
  });

  it('negotiates the lower version (XEP-0124 §6)', () => {
    expect(negotiateVersion('1.6')).toBe('1.6');
    expect(negotiateVersion('1.11')).toBe('1.11');
    expect(negotiateVersion('1.12')).toBe('1.11');
    expect(negotiateVersion('2.0')).toBe('1.11');
    expect(negotiateVersion(undefined)).toBeUndefined();
  });

  it('HTTP status: 200 unless the client is legacy (§17.1, §19.1)', () => {
    expect(terminateStatus('item-not-found', false)).toBe(200);
    expect(terminateStatus('item-not-found', true)).toBe(404);
    expect(terminateStatus('bad-request', true)).toBe(400);
    expect(terminateStatus('policy-violation', true)).toBe(403);
    expect(terminateStatus('system-shutdown', true)).toBe(200);
    expect(terminateStatus(null, true)).toBe(200);
  });
});
