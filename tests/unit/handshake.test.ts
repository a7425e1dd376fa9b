import type { IncomingMessage } from 'node:http';
import { checkUpgrade, offersProtocol, requestPath, selectProtocol } from '../../src/transports/websocket/handshake';

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
    expect(offersProtocol(req('/', ' a ,b,, xmpp'), 'xmpp')).toBe(true);
    expect(offersProtocol(req('/', 'xmpp\t, a'), 'xmpp')).toBe(true);
    expect(offersProtocol(req('/', ' a ,b,,'), 'xmpp')).toBe(false);
    expect(offersProtocol(req('/', 'xmpp2, xmp, x mpp'), 'xmpp')).toBe(false);
    expect(offersProtocol(req('/', ''), 'xmpp')).toBe(false);
  });
});

describe('Origin at the handshake (policy in src/http/origin.ts)', () => {
  const withOrigin = (origin: string | undefined, host = 'chat.example.org') =>
    ({ url: '/x', headers: { 'sec-websocket-protocol': 'xmpp', host, ...(origin === undefined ? {} : { origin }) } }) as unknown as IncomingMessage;

  it('refuses with 403 and says what was refused and what would allow it', () => {
    const v = checkUpgrade(withOrigin('https://evil.example'), '/x', ['same-origin']);
    expect(v).toMatchObject({ ok: false, status: 403, result: 'bad_origin', origin: { reason: 'other_host', origin: 'https://evil.example', comparedHost: 'chat.example.org' } });
  });
  it('compares with the host the client used (after proxies) when given, else Host', () => {
    expect(checkUpgrade(withOrigin('https://chat.example.org:8443'), '/x', ['same-origin']).ok).toBe(true);
    expect(checkUpgrade(withOrigin('https://public.example'), '/x', ['same-origin'], 'public.example').ok).toBe(true);
    expect(checkUpgrade(withOrigin('https://chat.example.org'), '/x', ['same-origin'], 'public.example').ok).toBe(false);
  });
});
