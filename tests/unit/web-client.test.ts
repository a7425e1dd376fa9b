import { contentSecurityPolicy, converseSettings, findConversePackage, safeSegments } from '../../src/http/web-client';

describe('web client', () => {
  it('finds the pinned Converse.js 14 package', () => {
    const pkg = findConversePackage();
    expect(pkg.version).toMatch(/^14\./);
    expect(pkg.distDir).toMatch(/converse\.js\/dist$/);
  });
  it.each([
    ['/converse/14.0.0/converse.min.js', ['converse.min.js']],
    ['/converse/14.0.0/chunkjs/locales/de-LC_MESSAGES-converse-po.js', ['chunkjs', 'locales', 'de-LC_MESSAGES-converse-po.js']],
    ['/converse/14.0.0/../package.json', null],
    ['/converse/14.0.0/%2e%2e/package.json', null],
    ['/converse/14.0.0/a/%2E%2E/%2E%2E/x.js', null],
    ['/converse/14.0.0/..%2fpackage.json', null],
    ['/converse/14.0.0/..%5cpackage.json', null],
    ['/converse/14.0.0/a%00.js', null],
    ['/converse/14.0.0/a//b.js', null],
    ['/converse/14.0.0/./b.js', null],
    ['/converse/14.0.0/', null],
    ['/converse/14.0.0/%E0%A4%A', null],
    ['/other/x.js', null],
  ])('%s → %j', (path, expected) => {
    expect(safeSegments(path, '/converse/14.0.0/')).toEqual(expected);
  });
  it('decodes %2f into a path separator before checking segments, so it cannot hide a ..', () => {
    expect(safeSegments('/converse/14.0.0/a%2fb.js', '/converse/14.0.0/')).toEqual(['a', 'b.js']);
  });
  it('has a CSP without inline script or eval, connecting only to itself and the WebSocket URL', () => {
    const csp = contentSecurityPolicy('wss://chat.example.org/xmpp-websocket');
    const script = csp.split('; ').find((d) => d.startsWith('script-src'))!;
    expect(script).toBe("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).not.toMatch(/ 'unsafe-eval'|script-src[^;]*unsafe-inline/);
    expect(csp).toContain("connect-src 'self' wss://chat.example.org/xmpp-websocket");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
  });
  it('builds Converse settings: the gateway URL, the domain, the operator over the defaults', () => {
    const s = converseSettings({ websocketUrl: 'ws://h/x', assetsPath: '/converse/14.0.0/', domain: 'example.org', extra: { i18n: 'de', view_mode: 'overlayed' } });
    expect(s).toMatchObject({ websocket_url: 'ws://h/x', assets_path: '/converse/14.0.0/', default_domain: 'example.org', i18n: 'de', view_mode: 'overlayed', discover_connection_methods: false });
    expect(converseSettings({ websocketUrl: 'ws://h/x', assetsPath: '/a/', domain: '', extra: {} })).not.toHaveProperty('default_domain');
  });
});
