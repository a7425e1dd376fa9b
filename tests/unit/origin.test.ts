import { checkOrigin, corsAllowOrigin, parseOrigin } from '../../src/http/origin';

describe('parseOrigin: what browsers send (RFC 6454 §6.2) and what they never do', () => {
  it.each([
    ['https://chat.example.org', 'origin'],
    ['http://127.0.0.1:5280', 'origin'],
    ['https://[::1]:8443', 'origin'],
    ['chrome-extension://abcdef', 'origin'],
    ['null', 'null'],
    ['NULL', 'null'],
    ['', 'none'],
    ['127.0.0.1', 'non_browser'], // Tsung 1.7
    ['chat.example.org', 'non_browser'],
    ['https://chat.example.org/', 'non_browser'],
    ['https://chat.example.org/path', 'non_browser'],
    ['https://user@chat.example.org', 'non_browser'],
    ['https://', 'non_browser'],
    ['*', 'non_browser'],
  ])('%j → %s', (raw, kind) => {
    expect(parseOrigin(raw).kind).toBe(kind);
  });
  it('no header → none', () => {
    expect(parseOrigin(undefined).kind).toBe('none');
  });
});

describe('checkOrigin', () => {
  const same = ['same-origin'];
  it.each([
    // same-origin compares host names: port and scheme do not matter (cookies ignore both; proxies drop both)
    ['https://chat.example.org', 'chat.example.org', same, true],
    ['https://chat.example.org:8443', 'chat.example.org', same, true],
    ['http://chat.example.org', 'chat.example.org:443', same, true],
    ['https://CHAT.example.org', 'chat.example.org', same, true],
    ['http://[::1]:9000', '[::1]:5280', same, true],
    ['http://127.0.0.1:9000', '127.0.0.1:5280', same, true],
    ['https://evil.example', 'chat.example.org', same, false],
    ['https://chat.example.org.evil.example', 'chat.example.org', same, false],
    ['https://example.org', 'chat.example.org', same, false],
    ['http://localhost:5280', '127.0.0.1:5280', same, false],
    ['https://chat.example.org', '', same, false], // no Host at all: nothing to be the same as
    // explicit lists are exact, wildcards match subdomains only
    ['https://web.example.org', 'x', ['https://*.example.org'], true],
    ['https://example.org', 'x', ['https://*.example.org'], false],
    ['https://a.evilexample.org', 'x', ['https://*.example.org'], false],
    ['http://web.example.org', 'x', ['https://*.example.org'], false],
    ['https://App.Example.COM', 'x', ['https://app.example.com'], true],
    ['https://evil.example', 'x', ['*'], true],
  ])('Origin %s, host %s, %j → %s', (origin, host, allowed, ok) => {
    expect(checkOrigin(origin, host, allowed).ok).toBe(ok);
  });

  it('treats a missing Origin and one no browser sends (Tsung: 127.0.0.1) alike: allowed', () => {
    expect(checkOrigin(undefined, 'h', same)).toEqual({ ok: true, origin: 'none' });
    expect(checkOrigin('127.0.0.1', 'h', same)).toEqual({ ok: true, origin: 'non_browser' });
    expect(checkOrigin('127.0.0.1', 'h', ['https://only.example'])).toEqual({ ok: true, origin: 'non_browser' });
  });

  it('refuses null unless null or * is allowed', () => {
    expect(checkOrigin('null', 'h', same)).toMatchObject({ ok: false, reason: 'null_origin', origin: 'null' });
    expect(checkOrigin('null', 'h', ['same-origin', 'null']).ok).toBe(true);
    expect(checkOrigin('null', 'h', ['*']).ok).toBe(true);
  });

  it('names the reason, the host compared with, and the setting that would allow the Origin', () => {
    expect(checkOrigin('https://evil.example', 'chat.example.org:443', same)).toEqual({
      ok: false, reason: 'other_host', origin: 'https://evil.example', comparedHost: 'chat.example.org',
      allowWith: '--allowed-origins same-origin,https://evil.example',
    });
    expect(checkOrigin('https://evil.example', 'chat.example.org', ['https://a.example'])).toEqual({
      ok: false, reason: 'not_listed', origin: 'https://evil.example', comparedHost: null,
      allowWith: '--allowed-origins https://a.example,https://evil.example',
    });
  });
});

describe('corsAllowOrigin (host-meta under the same policy)', () => {
  it('answers *, the allowed Origin itself, or nothing', () => {
    expect(corsAllowOrigin('https://evil.example', 'h', ['*'])).toBe('*');
    expect(corsAllowOrigin(undefined, 'h', ['*'])).toBe('*');
    expect(corsAllowOrigin('https://chat.example.org:8443', 'chat.example.org', ['same-origin'])).toBe('https://chat.example.org:8443');
    expect(corsAllowOrigin('https://evil.example', 'chat.example.org', ['same-origin'])).toBeNull();
    expect(corsAllowOrigin(undefined, 'chat.example.org', ['same-origin'])).toBeNull();
    expect(corsAllowOrigin('127.0.0.1', 'chat.example.org', ['same-origin'])).toBeNull();
  });
});
