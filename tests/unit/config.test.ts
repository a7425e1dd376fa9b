import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, defaultConfig, helpText, parseBytes, parseCidr, parseCli, parseDuration, parseHostPort, printConfig } from '../../src/config';
import { Gateway } from '../../src/gateway';
import { createLogger } from '../../src/logger';

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const r = parseCli(argv, env);
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  return r.config;
}

const dir = mkdtempSync(join(tmpdir(), 'xmppgw-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('parseCli', () => {
  it('has the documented defaults', () => {
    const c = run([]);
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 5280 });
    expect(c.path).toBe('/xmpp-websocket');
    expect(c.upstream).toEqual({ host: '127.0.0.1', port: 5222 });
    expect(c.maxStanzaSize).toBe(262144);
    expect(c.pingIntervalMs).toBe(30000);
    expect(c.openTimeoutMs).toBe(10000);
    expect(c.connectTimeoutMs).toBe(10000);
    expect(c.metricsListen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(c.allowedOrigins).toEqual(['same-origin']);
    expect(c.trustedProxies).toEqual(['127.0.0.0/8', '::1/128']);
    expect(c.connectionRatePerIp).toEqual({ count: 60, windowMs: 10000 });
    expect(c.redirectUri).toBeNull();
    expect(c.workers).toBeGreaterThanOrEqual(1);
    expect(Object.isFrozen(c)).toBe(true);
    expect(defaultConfig()).toEqual(c);
  });

  it('takes flags over environment over file over defaults', () => {
    const cfg = file('p.yaml', 'listen: 0.0.0.0:1\npath: /from-file\nmax-stanza-size: 300k\nping-interval: 10\nallowed-origins:\n  - https://a.example\n  - https://*.b.example\n');
    const c = run(['--config', cfg, '--listen', '[::1]:0'], {
      XMPP_WS_GATEWAY_LISTEN: '0.0.0.0:2',
      XMPP_WS_GATEWAY_PATH: '/from-env',
      XMPP_WS_GATEWAY_PING_INTERVAL: '1500ms',
    });
    expect(c.listen).toEqual({ host: '::1', port: 0 });
    expect(c.path).toBe('/from-env');
    expect(c.maxStanzaSize).toBe(300 * 1024);
    expect(c.pingIntervalMs).toBe(1500);
    expect(c.allowedOrigins).toEqual(['https://a.example', 'https://*.b.example']);
  });

  it('reads JSON files and the config path from the environment', () => {
    const cfg = file('p.json', JSON.stringify({ 'max-connections': 7, 'redirect-uri': 'wss://next.example/ws' }));
    const c = run([], { XMPP_WS_GATEWAY_CONFIG: cfg });
    expect(c.maxConnections).toBe(7);
    expect(c.redirectUri).toBe('wss://next.example/ws');
  });

  it.each([
    ['wss://next.example/xmpp-websocket'],
    ['ws://127.0.0.1:5281/xmpp-websocket'],
    ['ws://127.1.2.3/x'],
    ['ws://localhost:5281/x'],
    ['ws://[::1]:5281/x'],
  ])('--redirect-uri %s is accepted (wss:// anywhere; ws:// only to loopback, RFC 7395 §3.6.1)', (uri) => {
    const r = parseCli(['--redirect-uri', uri], {});
    expect(r.kind === 'run' && r.config.redirectUri).toBe(uri);
  });

  it('--upstream-connect-rate defaults to unlimited and parses COUNT/DURATION', () => {
    expect(defaultConfig().upstreamConnectRate).toEqual({ count: 0, windowMs: 1000 });
    const r = parseCli(['--upstream-connect-rate', '500/1s'], {});
    expect(r.kind === 'run' && r.config.upstreamConnectRate).toEqual({ count: 500, windowMs: 1000 });
  });

  it.each([
    [['--listen', 'nohost'], /invalid --listen "nohost": expected HOST:PORT/],
    [['--listen', '1.2.3.4:70000'], /--listen/],
    [['--listen', '[nothex]:1'], /--listen/],
    [['--upstream', 'a b:5222'], /--upstream/],
    [['--path', 'xmpp'], /invalid --path "xmpp": expected an absolute URL path/],
    [['--max-stanza-size', '12'], /invalid --max-stanza-size "12": expected at least 10000 bytes/],
    [['--max-stanza-size', 'lots'], /--max-stanza-size "lots": expected a size in bytes/],
    [['--ping-interval=-1'], /--ping-interval "-1": expected a duration/],
    [['--ping-interval', '5h'], /--ping-interval "5h": expected at most 3600 s/],
    [['--log-level', 'loud'], /--log-level "loud": expected one of fatal, error/],
    [['--allowed-origins', 'example.org'], /--allowed-origins "example.org": expected origins like/],
    [['--trusted-proxies', '10.0.0.0/33'], /--trusted-proxies "10.0.0.0\/33": expected CIDR ranges/],
    [['--redirect-uri', 'ws://insecure.example/ws'], /--redirect-uri .*expected a wss:\/\/ URI/],
    [['--redirect-uri', 'ws://10.0.0.5:5281/ws'], /--redirect-uri .*expected a wss:\/\/ URI/],
    [['--redirect-uri', 'ws://127.0.0.1.example.org/ws'], /--redirect-uri .*expected a wss:\/\/ URI/],
    [['--redirect-uri', 'http://127.0.0.1/ws'], /--redirect-uri .*expected a wss:\/\/ URI/],
    [['--upstream-connect-rate', 'fast'], /--upstream-connect-rate "fast": expected COUNT\/DURATION/],
    [['--connection-rate-per-ip', '10'], /--connection-rate-per-ip "10": expected COUNT\/DURATION/],
    [['--workers', '0'], /--workers "0": expected "auto"/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
    [['positional'], /positional/],
  ])('rejects %j naming the option', (argv, message) => {
    expect(() => parseCli(argv, {})).toThrow(ConfigError);
    expect(() => parseCli(argv, {})).toThrow(message);
  });

  it('names the environment variable or file that held the bad value', () => {
    expect(() => parseCli([], { XMPP_WS_GATEWAY_UPSTREAM: 'bad' })).toThrow(/invalid XMPP_WS_GATEWAY_UPSTREAM "bad"/);
    const cfg = file('bad.yaml', 'max-depth: 2\n');
    expect(() => parseCli(['--config', cfg], {})).toThrow(new RegExp(`invalid max-depth in ${cfg} 2: expected at least 4`));
    const unknown = file('unknown.yaml', 'max-stanza: 1\n');
    expect(() => parseCli(['--config', unknown], {})).toThrow(/unknown setting "max-stanza"/);
    expect(() => parseCli(['--config', file('broken.yaml', 'a: [')], {})).toThrow(/is not valid YAML/);
    expect(() => parseCli(['--config', join(dir, 'missing.yaml')], {})).toThrow(/cannot read config file .*ENOENT/);
  });

  it('answers --help, --version and --print-config', () => {
    expect(parseCli(['--help'], {}).kind).toBe('help');
    expect(parseCli(['-v'], {}).kind).toBe('version');
    const printed = parseCli(['--print-config', '--max-depth', '9'], {});
    expect(printed.kind).toBe('print-config');
    if (printed.kind === 'print-config') expect(JSON.parse(printed.text).maxDepth).toBe(9);
    const text = helpText();
    for (const flag of ['--listen', '--path', '--upstream', '--max-stanza-size', '--ping-interval', 'XMPP_WS_GATEWAY_LISTEN', '--config', '--print-config']) {
      expect(text).toContain(flag);
    }
  });

  it('masks secrets when printing', () => {
    const printed = JSON.parse(printConfig({ ...defaultConfig(), ...({ upstreamPassword: 'hunter2' } as object) } as never));
    expect(printed.upstreamPassword).toBe('********');
  });
});

describe('value grammars', () => {
  it('parses sizes, durations, addresses and CIDR ranges', () => {
    expect(parseBytes('1MiB')).toBe(1048576);
    expect(parseBytes('10 k')).toBe(10240);
    expect(parseDuration('2m')).toBe(120000);
    expect(parseDuration('0.5')).toBe(500);
    expect(parseHostPort('localhost:1')).toEqual({ host: 'localhost', port: 1 });
    expect(parseCidr('10.1.0.0/16')).toEqual({ address: '10.1.0.0', prefix: 16, family: 'ipv4' });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
  });
});

describe('settings given in code are checked like flags', () => {
  it('defaultConfig: a bad override throws ConfigError naming the setting', () => {
    expect(() => defaultConfig({ maxStanzaSize: 5 })).toThrow(ConfigError);
    expect(() => defaultConfig({ maxStanzaSize: 5 })).toThrow(/maxStanzaSize \(--max-stanza-size\) 5: expected at least 10000 bytes/);
    expect(() => defaultConfig({ listen: { host: 'not a host', port: 1 } })).toThrow(/listen \(--listen\)/);
    expect(() => defaultConfig({ pingIntervalMs: 10 })).toThrow(/pingIntervalMs \(--ping-interval\).*at least 100 ms/);
    expect(() => defaultConfig({ redirectUri: 'ws://insecure.example/ws' })).toThrow(/redirectUri \(--redirect-uri\).*wss:/);
    expect(() => defaultConfig({ connectionRatePerIp: { count: 1, windowMs: 5 } })).toThrow(/connectionRatePerIp/);
    expect(() => defaultConfig({ trustedProxies: ['nonsense'] })).toThrow(/trustedProxies \(--trusted-proxies\)/);
    expect(() => defaultConfig({ nope: 1 } as never)).toThrow(/unknown setting "nope"/);
  });
  it('on/off settings given as booleans round-trip, and a non-boolean is refused', () => {
    expect(defaultConfig({ webClient: true }).webClient).toBe(true);
    expect(defaultConfig({ webClient: false }).webClient).toBe(false);
    expect(() => defaultConfig({ webClient: 'yes' as never })).toThrow(/webClient \(--web-client\)/);
  });
  it('good overrides come back as the CLI would parse them', () => {
    const c = defaultConfig({
      listen: { host: '::1', port: 0 }, maxStanzaSize: 20_000, idleTimeoutMs: 0, metricsListen: null, redirectUri: null,
      connectionRatePerIp: { count: 0, windowMs: 1000 }, allowedOrigins: ['*'], closeTimeoutMs: 300,
    });
    expect(c).toMatchObject({ listen: { host: '::1', port: 0 }, maxStanzaSize: 20_000, idleTimeoutMs: 0, metricsListen: null, closeTimeoutMs: 300, allowedOrigins: ['*'] });
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('Gateway checks the Config it is given', () => {
    const config = { ...defaultConfig(), maxDepth: 0 };
    expect(() => new Gateway({ config, log: createLogger('silent', 'json') })).toThrow(/maxDepth \(--max-depth\)/);
  });
});

describe('web client settings', () => {
  it('are off by default, and take on/off, a domain and Converse settings as JSON or a file mapping', () => {
    const d = run([]);
    expect(d).toMatchObject({ webClient: false, webClientDomain: '', webClientSettings: {} });
    const c = run(['--web-client', 'on', '--web-client-domain', 'example.org', '--web-client-settings', '{"i18n":"de","show_send_button":true}']);
    expect(c).toMatchObject({ webClient: true, webClientDomain: 'example.org', webClientSettings: { i18n: 'de', show_send_button: true } });
    const f = file('w.yaml', 'web-client: "on"\nweb-client-settings:\n  i18n: fr\n  view_mode: overlayed\n');
    expect(run(['--config', f])).toMatchObject({ webClient: true, webClientSettings: { i18n: 'fr', view_mode: 'overlayed' } });
    expect(run([], { XMPP_WS_GATEWAY_WEB_CLIENT_SETTINGS: '{"i18n":"it"}' }).webClientSettings).toEqual({ i18n: 'it' });
  });
  it.each([
    [['--web-client', 'yes'], /--web-client "yes": expected on or off/],
    [['--web-client-domain', 'not a domain'], /expected an XMPP domain/],
    [['--web-client-settings', '[1,2]'], /expected a JSON object of Converse.js settings/],
    [['--web-client-settings', '{"a":'], /expected a JSON object of Converse.js settings/],
    [['--web-client-settings', JSON.stringify({ big: 'x'.repeat(17_000) })], /at most 16 KiB/],
    [['--allowed-origins', 'null,same-origin,https://a.example'], null],
  ])('%j → %s', (argv, error) => {
    if (error === null) expect(run(argv).allowedOrigins).toEqual(['null', 'same-origin', 'https://a.example']);
    else expect(() => run(argv)).toThrow(error);
  });
});
