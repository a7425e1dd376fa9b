import { corsFor, preflightHeaders } from '../../../src/transports/bosh/cors';
import { sidWorker } from '../../../src/transports/bosh/peers';


describe('BOSH CORS (same --allowed-origins as WebSocket)', () => {
  it('no Origin (not a browser): allowed, no CORS headers', () => {
    expect(corsFor(undefined, 'chat.example.org', ['same-origin'])).toEqual({ ok: true, headers: {} });
  });
  it('an allowed origin is echoed with Vary: Origin', () => {
    expect(corsFor('https://app.example.org', 'x', ['https://*.example.org'])).toEqual({
      ok: true, headers: { 'Access-Control-Allow-Origin': 'https://app.example.org', Vary: 'Origin' },
    });
  });
  it('same-origin compares with the Host the request was made to', () => {
    expect(corsFor('https://chat.example.org', 'chat.example.org', ['same-origin']).ok).toBe(true);
    expect(corsFor('https://evil.example.com', 'chat.example.org', ['same-origin']).ok).toBe(false);
  });
  it('a preflight answer allows POST and Content-Type', () => {
    expect(preflightHeaders({ Vary: 'Origin' })).toMatchObject({ 'Access-Control-Allow-Methods': 'POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type', Vary: 'Origin' });
  });
});

describe('sid → worker (cluster routing)', () => {
  it.each([
    ['1.abcdef', 1],
    ['a.xyz', 10],
    ['zz.q', 35 * 36 + 35],
    ['abc', null],
    ['.abc', null],
    ['0.abc', null],
    ['-1.abc', null],
    ['123456789.x', null],
  ])('%s → %s', (sid, id) => {
    expect(sidWorker(sid)).toBe(id);
  });
});

describe('XEP-0156 host-meta lists BOSH after the WebSocket', () => {
  it('as the client sees the gateway', async () => {
    const { altConnections, publicBoshUrl } = await import('../../../src/http/host-meta');
    const url = publicBoshUrl({ scheme: 'https', host: 'chat.example.org' }, '/http-bind', '127.0.0.1:5280');
    expect(url).toBe('https://chat.example.org/http-bind');
    expect(altConnections('wss://chat.example.org/xmpp-websocket', url)).toEqual([
      { rel: 'urn:xmpp:alt-connections:websocket', href: 'wss://chat.example.org/xmpp-websocket' },
      { rel: 'urn:xmpp:alt-connections:xbosh', href: 'https://chat.example.org/http-bind' },
    ]);
  });
});
