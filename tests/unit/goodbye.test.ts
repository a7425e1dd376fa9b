import * as ltx from 'ltx';
import { planGoodbye } from '../../src/session/goodbye';
import { LEGACY_FRAMING, RFC7395_FRAMING } from '../../src/transports/websocket/framing';
import { websocketGoodbye } from '../../src/transports/websocket/goodbye';
import { FAILURES, type FailureCode } from '../../src/xmpp/stream-error';

const ctx = { openSentToClient: true, redirectUri: null, domain: 'example.org' };

describe('planGoodbye: failure row → what each side gets', () => {
  it('every row has a plan, and the upstream half follows closeUpstreamStream', () => {
    for (const code of Object.keys(FAILURES) as FailureCode[]) {
      const plan = planGoodbye(code, 'why', ctx);
      expect(plan.upstream).toBe(FAILURES[code].closeUpstreamStream ? 'footer' : 'destroy');
    }
  });
  it('a lost client is dropped without frames, and upstream destroyed so XEP-0198 can resume', () => {
    expect(planGoodbye('CLIENT_GONE', 'x', ctx)).toEqual({ client: { kind: 'drop' }, upstream: 'destroy' });
    expect(planGoodbye('PING_TIMEOUT', 'x', ctx).client).toEqual({ kind: 'drop' });
  });
  it('rows without a condition and a non-1000 code speak only through the close code (reason ≤ 123 bytes)', () => {
    const plan = planGoodbye('CLIENT_MESSAGE_TOO_BIG', 'y'.repeat(500), ctx);
    expect(plan.client).toMatchObject({ kind: 'close-code', closeCode: 1009 });
    expect(plan.client.kind === 'close-code' && Buffer.byteLength(plan.client.reason) <= 123).toBe(true);
  });
  it('a stream error opens the stream first when the server never did (RFC 6120 §4.9.1.2)', () => {
    const early = planGoodbye('UPSTREAM_CONNECT_FAILED', 'refused', { ...ctx, openSentToClient: false });
    expect(early.client).toEqual({
      kind: 'end-stream', openFirst: true, domain: 'example.org',
      streamError: { condition: 'remote-connection-failed', text: 'refused' }, seeOtherUri: null, closeCode: 1000,
    });
    expect(planGoodbye('UPSTREAM_CONNECT_FAILED', 'refused', ctx).client).toMatchObject({ openFirst: false });
    // No stream error, no need to open.
    expect(planGoodbye('CLIENT_CLOSED', 'bye', { ...ctx, openSentToClient: false }).client).toMatchObject({ openFirst: false, streamError: null });
  });
  it('the redirect row carries the URI and no stream error (RFC 7395 §3.6.1)', () => {
    const plan = planGoodbye('SHUTDOWN_REDIRECT', 'x', { ...ctx, redirectUri: 'wss://other.example/ws' });
    expect(plan.client).toMatchObject({ kind: 'end-stream', streamError: null, seeOtherUri: 'wss://other.example/ws', closeCode: 1001 });
  });
  it('a bug ends with internal-server-error and close 1011', () => {
    expect(planGoodbye('INTERNAL', 'boom', ctx).client).toMatchObject({ streamError: { condition: 'internal-server-error' }, closeCode: 1011 });
  });
});

describe('websocketGoodbye: the client half in each framing', () => {
  it('RFC 7395: <open/> if needed, a standalone <stream:error/>, <close/>, then the code', () => {
    const bye = websocketGoodbye(planGoodbye('OPEN_TIMEOUT', 'late', { ...ctx, openSentToClient: false }).client, RFC7395_FRAMING);
    expect(bye.kind).toBe('close');
    if (bye.kind !== 'close') return;
    expect(bye.code).toBe(1000);
    expect(bye.messages).toHaveLength(3);
    const [open, error, close] = bye.messages.map((m) => ltx.parse(m));
    expect(open!.is('open', 'urn:ietf:params:xml:ns:xmpp-framing')).toBe(true);
    expect(open!.attrs.from).toBe('example.org');
    expect(error!.is('error', 'http://etherx.jabber.org/streams')).toBe(true);
    expect(error!.getChild('connection-timeout', 'urn:ietf:params:xml:ns:xmpp-streams')).toBeDefined();
    expect(close!.is('close', 'urn:ietf:params:xml:ns:xmpp-framing')).toBe(true);
  });
  it('RFC 7395 redirect: <close see-other-uri/>', () => {
    const bye = websocketGoodbye(planGoodbye('SHUTDOWN_REDIRECT', 'x', { ...ctx, redirectUri: 'wss://b.example/ws' }).client, RFC7395_FRAMING);
    expect(bye).toEqual({ kind: 'close', messages: ['<close xmlns="urn:ietf:params:xml:ns:xmpp-framing" see-other-uri="wss://b.example/ws"/>'], code: 1001 });
  });
  it('legacy: a classic header if needed, the error on the open stream, </stream:stream>', () => {
    const bye = websocketGoodbye(planGoodbye('CLIENT_NOT_WELL_FORMED', 'bad', { ...ctx, openSentToClient: false }).client, LEGACY_FRAMING);
    if (bye.kind !== 'close') throw new Error('expected close');
    const doc = bye.messages.join('');
    expect(doc.startsWith("<?xml version='1.0'?><stream:stream")).toBe(true);
    expect(doc.endsWith('</stream:stream>')).toBe(true);
    const root = ltx.parse(doc.replace(/^<\?xml[^>]*\?>/, ''));
    expect(root.getChild('error', 'http://etherx.jabber.org/streams')?.getChild('not-well-formed')).toBeDefined();
  });
  it('drop → terminate; close-code rows → the code and reason only', () => {
    expect(websocketGoodbye({ kind: 'drop' }, RFC7395_FRAMING)).toEqual({ kind: 'terminate' });
    expect(websocketGoodbye(planGoodbye('CLIENT_BINARY', 'bin', ctx).client, LEGACY_FRAMING)).toEqual({ kind: 'close', messages: [], code: 1003, reason: 'bin' });
  });
});
