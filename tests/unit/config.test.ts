import { ConfigError, defaultConfig, helpText, parseBytes, parseCli, parseDuration, parseHostPort } from '../../src/config';

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const r = parseCli(argv, env);
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  return r.config;
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
    expect(Object.isFrozen(c)).toBe(true);
    expect(defaultConfig()).toEqual(c);
  });

  it('reads flags, and environment variables when no flag is given', () => {
    const c = run(['--listen', '[::1]:0', '--upstream=xmpp.example.org:5222'], {
      XMPP_WS_GATEWAY_LISTEN: '0.0.0.0:1',
      XMPP_WS_GATEWAY_PATH: '/ws',
      XMPP_WS_GATEWAY_MAX_STANZA_SIZE: '512k',
      XMPP_WS_GATEWAY_PING_INTERVAL: '1500ms',
    });
    expect(c.listen).toEqual({ host: '::1', port: 0 });
    expect(c.upstream).toEqual({ host: 'xmpp.example.org', port: 5222 });
    expect(c.path).toBe('/ws');
    expect(c.maxStanzaSize).toBe(512 * 1024);
    expect(c.pingIntervalMs).toBe(1500);
  });

  it.each([
    [['--listen', 'nohost'], /--listen "nohost": expected HOST:PORT/],
    [['--listen', '1.2.3.4:70000'], /--listen/],
    [['--listen', '[nothex]:1'], /--listen/],
    [['--upstream', 'a b:5222'], /--upstream/],
    [['--path', 'xmpp'], /--path "xmpp": expected an absolute URL path/],
    [['--max-stanza-size', '12'], /--max-stanza-size "12": expected a size in bytes between 10000/],
    [['--max-stanza-size', 'lots'], /--max-stanza-size/],
    [['--ping-interval=-1'], /--ping-interval "-1": expected a duration/],
    [['--ping-interval', '5h'], /--ping-interval/],
    [['--log-level', 'loud'], /--log-level "loud": expected fatal, error/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
    [['positional'], /positional/],
  ])('rejects %j naming the option', (argv, message) => {
    expect(() => parseCli(argv, {})).toThrow(ConfigError);
    expect(() => parseCli(argv, {})).toThrow(message);
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(() => parseCli([], { XMPP_WS_GATEWAY_UPSTREAM: 'bad' })).toThrow(/XMPP_WS_GATEWAY_UPSTREAM "bad"/);
  });

  it('answers --help and --version', () => {
    expect(parseCli(['--help'], {}).kind).toBe('help');
    expect(parseCli(['-v'], {}).kind).toBe('version');
    const text = helpText();
    for (const flag of ['--listen', '--path', '--upstream', '--max-stanza-size', '--ping-interval', 'XMPP_WS_GATEWAY_LISTEN']) {
      expect(text).toContain(flag);
    }
  });
});

describe('value parsers', () => {
  it('parses sizes and durations with units', () => {
    expect(parseBytes('x', '1MiB', 1, 1e9)).toBe(1048576);
    expect(parseBytes('x', '10 k', 1, 1e9)).toBe(10240);
    expect(parseDuration('x', '2m', 0, 1e9)).toBe(120000);
    expect(parseDuration('x', '0.5', 0, 1e9)).toBe(500);
    expect(parseHostPort('x', 'localhost:1')).toEqual({ host: 'localhost', port: 1 });
  });
});
