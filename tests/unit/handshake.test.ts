import type { IncomingMessage } from 'node:http';
import { checkOrigin, checkUpgrade, offeredProtocols, requestPath, selectProtocol } from '../../src/transports/websocket/handshake';

const req = (url: string, protocol?: string) =>
  ({ url, headers: protocol === undefined ? {} : { 'sec-websocket-protocol': protocol } }) as unknown as IncomingMessage;

describe('handshake policy', () => {
  it('accepts the configured path with "xmpp" offered anywhere in the list', () => {
    expect(checkUpgrade(req('/xmpp-websocket', 'xmpp'), '/xmpp-websocket')).toEqual({ ok: true });
    expect(checkUpgrade(req('/xmpp-websocket?v=1', 'chat, xmpp'), '/xmpp-websocket')).toEqual({ ok: true });
  });
  it('answers 404 on other paths', () => {
    const v = checkUpgrade(req('/other', 'xmpp'), '/xmpp-websocket');
    expect(v).toMatchObject({ ok: false, status: 404, result: 'bad_path' });
  });
  it('answers 400 with a reason when "xmpp" is not offered', () => {
    for (const p of [undefined, '', 'XMPP', 'xmpp2, chat']) {
      const v = checkUpgrade(req('/xmpp-websocket', p), '/xmpp-websocket');
      expect(v).toMatchObject({ ok: false, status: 400, result: 'bad_protocol' });
      if (!v.ok) expect(v.reason).toContain('RFC 7395');
    }
  });
  it('always selects exactly "xmpp"', () => {
    expect(selectProtocol(new Set(['chat', 'xmpp']))).toBe('xmpp');
    expect(selectProtocol(new Set(['chat']))).toBe(false);
  });
  it('splits paths and protocol lists', () => {
    expect(requestPath('/a?b')).toBe('/a');
    expect(requestPath(undefined)).toBe('/');
    expect(offeredProtocols(req('/', ' a ,b,, xmpp'))).toEqual(['a', 'b', 'xmpp']);
  });
});

describe('Origin allowlist (RFC 6455 §10.2)', () => {
  const withOrigin = (origin: string | undefined, host = 'chat.example.org') =>
    ({ url: '/x', headers: { 'sec-websocket-protocol': 'xmpp', host, ...(origin === undefined ? {} : { origin }) } }) as unknown as IncomingMessage;

  it.each([
    [undefined, ['same-origin'], true],
    ['https://chat.example.org', ['same-origin'], true],
    ['https://evil.example', ['same-origin'], false],
    ['https://evil.example', ['*'], true],
    ['https://web.example.org', ['https://*.example.org'], true],
    ['https://example.org', ['https://*.example.org'], false],
    ['https://a.evilexample.org', ['https://*.example.org'], false],
    ['http://web.example.org', ['https://*.example.org'], false],
    ['https://App.Example.COM', ['https://app.example.com'], true],
  ])('Origin %s with %j → %s', (origin, allowed, ok) => {
    expect(checkOrigin(withOrigin(origin), allowed)).toBe(ok);
    const v = checkUpgrade(withOrigin(origin), '/x', allowed);
    expect(v.ok).toBe(ok);
    if (!v.ok) expect(v).toMatchObject({ status: 403, result: 'bad_origin' });
  });
});
