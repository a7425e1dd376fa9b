import { hostName, parseAuthority, publicAuthority } from '../../src/http/forwarded';

describe('publicAuthority: the scheme and host the client used', () => {
  it('uses Host and http when the peer is not a trusted proxy, whatever the headers say', () => {
    expect(publicAuthority({ host: 'Gw.Example:5280', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example;proto=https' }, false))
      .toEqual({ scheme: 'http', host: 'gw.example:5280' });
  });
  it('believes X-Forwarded-Proto/Host from a trusted proxy (the last value, written by the nearest hop)', () => {
    expect(publicAuthority({ host: '127.0.0.1:5280', 'x-forwarded-host': 'chat.example.org:8443', 'x-forwarded-proto': 'https' }, true))
      .toEqual({ scheme: 'https', host: 'chat.example.org:8443' });
    expect(publicAuthority({ host: 'x', 'x-forwarded-host': 'forged.example, chat.example.org', 'x-forwarded-proto': 'http, https' }, true))
      .toEqual({ scheme: 'https', host: 'chat.example.org' });
  });
  it('prefers RFC 7239 Forwarded (its last element) over X-Forwarded-*', () => {
    expect(publicAuthority({ host: 'x', forwarded: 'for=1.2.3.4;host=forged.example, for=10.0.0.1;proto=https;host="chat.example.org:8443"', 'x-forwarded-host': 'other.example' }, true))
      .toEqual({ scheme: 'https', host: 'chat.example.org:8443' });
  });
  it('keeps Host when a forwarded host is malformed (nothing that could break a URL or header)', () => {
    expect(publicAuthority({ host: 'chat.example.org', 'x-forwarded-host': 'evil.example/path"<' }, true)).toEqual({ scheme: 'http', host: 'chat.example.org' });
    expect(publicAuthority({ host: 'a b' }, false)).toEqual({ scheme: 'http', host: '' });
  });
  it('splits host names from ports, IPv6 included', () => {
    expect(hostName('chat.example.org:8443')).toBe('chat.example.org');
    expect(hostName('[::1]:5280')).toBe('[::1]');
    expect(hostName('[::1]')).toBe('[::1]');
    expect(hostName('localhost')).toBe('localhost');
    expect(parseAuthority('[::1]:5280')).toBe('[::1]:5280');
    expect(parseAuthority('a/b')).toBeNull();
  });
});
