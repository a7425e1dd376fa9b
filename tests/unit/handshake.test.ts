import type { IncomingMessage } from 'node:http';
import { checkUpgrade, offeredProtocols, requestPath, selectProtocol } from '../../src/ws/handshake';

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
