import * as ltx from 'ltx';
import { FAILURES, STREAM_ERROR_CONDITIONS, SessionFailure, isStreamErrorCondition, streamErrorXml } from '../../src/xmpp/stream-error';

describe('failure table', () => {
  it('uses only RFC 6120 conditions and RFC 6455 close codes', () => {
    for (const [code, f] of Object.entries(FAILURES)) {
      if (f.condition !== null) expect(STREAM_ERROR_CONDITIONS).toContain(f.condition);
      expect([1000, 1001, 1003, 1006, 1007, 1009, 1011]).toContain(f.wsCloseCode);
      expect(f.event).toMatch(/^[a-z0-9_]+$/);
      expect(f.description.length).toBeGreaterThan(10);
      // A stream error travels in-band, so the WebSocket closes normally (or going-away / internal).
      if (f.condition !== null) expect([1000, 1001, 1011]).toContain(f.wsCloseCode);
      expect(new SessionFailure(code as keyof typeof FAILURES, 'x').failure).toBe(f);
    }
  });
  it('has unique log events', () => {
    const events = Object.values(FAILURES).map((f) => f.event);
    expect(new Set(events).size).toBe(events.length);
  });
  it('keeps a lost client resumable (no </stream:stream> upstream)', () => {
    expect(FAILURES.CLIENT_GONE.closeUpstreamStream).toBe(false);
    expect(FAILURES.PING_TIMEOUT.closeUpstreamStream).toBe(false);
    expect(FAILURES.CLIENT_CLOSED.closeUpstreamStream).toBe(true);
  });
  it('knows every condition', () => {
    expect(isStreamErrorCondition('policy-violation')).toBe(true);
    expect(isStreamErrorCondition('made-up')).toBe(false);
  });
});

describe('streamErrorXml', () => {
  it('is a standalone element with the condition and escaped text (RFC 6120 §4.9.2)', () => {
    const xml = streamErrorXml('policy-violation', 'too <big> & "bad"');
    const el = ltx.parse(xml);
    expect(el.name).toBe('stream:error');
    expect(el.attrs['xmlns:stream']).toBe('http://etherx.jabber.org/streams');
    const cond = el.getChild('policy-violation');
    expect(cond?.attrs.xmlns).toBe('urn:ietf:params:xml:ns:xmpp-streams');
    expect(el.getChildText('text')).toBe('too <big> & "bad"');
  });
  it('omits the prefix declaration inside a classic stream', () => {
    expect(streamErrorXml('reset', undefined, false)).toBe("<stream:error><reset xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
  });
});
