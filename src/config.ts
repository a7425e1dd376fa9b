/**
 * Typed configuration, parsed once at start-up from flags and environment variables (flags win),
 * validated, and frozen. An invalid value is a start-up error naming the setting and what it expects;
 * nothing is checked per connection.
 */
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  /** Address the WebSocket listener binds. */
  readonly listen: HostPort;
  /** The only HTTP path that upgrades to WebSocket. */
  readonly path: string;
  /** The XMPP server's c2s TCP endpoint. */
  readonly upstream: HostPort;
  /** Largest element in either direction, in bytes (RFC 6120 §13.12: servers set such limits). */
  readonly maxStanzaSize: number;
  /** Deepest element nesting accepted inside one stanza. */
  readonly maxDepth: number;
  /** WebSocket ping period, ms; a session that has not answered the previous ping is ended. */
  readonly pingIntervalMs: number;
  /** Time from the WebSocket handshake to the client's `<open/>`, ms. */
  readonly openTimeoutMs: number;
  /** Upstream TCP connect timeout, ms. */
  readonly connectTimeoutMs: number;
  /** After a client `<close/>`, how long to wait for the server's `</stream:stream>`, ms. */
  readonly closeTimeoutMs: number;
  /** Client bytes and messages held while upstream is still connecting. */
  readonly preConnectQueueBytes: number;
  readonly preConnectQueueMessages: number;
  /** Pause reading the server while `ws.bufferedAmount` is above this, resume below half of it. */
  readonly wsHighWaterMark: number;
  readonly logLevel: LogLevel;
}

/** One setting: its flag, environment variable, default, and parser. */
interface Setting<K extends keyof Config> {
  readonly key: K;
  readonly flag: string;
  readonly env: string;
  readonly defaultText: string;
  readonly help: string;
  readonly parse: (raw: string) => Config[K];
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function fail(flag: string, expected: string, raw: string): never {
  throw new ConfigError(`invalid --${flag} ${JSON.stringify(raw)}: expected ${expected}`);
}

/** `host:port`, `[v6]:port`; the host must be an IP literal or a DNS name. */
export function parseHostPort(flag: string, raw: string): HostPort {
  const expected = 'HOST:PORT (e.g. 127.0.0.1:5280 or [::1]:5280) with PORT 0-65535';
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(raw) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(raw);
  if (!m) fail(flag, expected, raw);
  const host = m[1]!;
  const port = Number(m[2]);
  if (port > 65535) fail(flag, expected, raw);
  if (raw.startsWith('[') && isIP(host) !== 6) fail(flag, expected, raw);
  if (isIP(host) === 0 && !/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(host)) {
    fail(flag, expected, raw);
  }
  return Object.freeze({ host, port });
}

/** A byte size: `262144`, `256k`, `256KiB`, `1m`, `1MiB`. */
export function parseBytes(flag: string, raw: string, min: number, max: number): number {
  const expected = `a size in bytes between ${min} and ${max} (suffixes k/KiB, m/MiB allowed)`;
  const m = /^(\d+)\s*(k|kib|kb|m|mib|mb)?$/i.exec(raw.trim());
  if (!m) fail(flag, expected, raw);
  const unit = (m[2] ?? '').toLowerCase();
  const n = Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(flag, expected, raw);
  return n;
}

/** A duration: `30` (seconds), `30s`, `500ms`, `2m`. Returns milliseconds. */
export function parseDuration(flag: string, raw: string, minMs: number, maxMs: number): number {
  const expected = `a duration between ${minMs} ms and ${maxMs / 1000} s (e.g. 30, 30s, 500ms, 2m)`;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(raw.trim());
  if (!m) fail(flag, expected, raw);
  const unit = m[2] ?? 's';
  const ms = Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60000));
  if (!Number.isFinite(ms) || ms < minMs || ms > maxMs) fail(flag, expected, raw);
  return ms;
}

function parseInteger(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) fail(flag, `an integer between ${min} and ${max}`, raw);
  const n = Number(raw);
  if (n < min || n > max) fail(flag, `an integer between ${min} and ${max}`, raw);
  return n;
}

function parsePath(flag: string, raw: string): string {
  if (!/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(raw)) fail(flag, 'an absolute URL path such as /xmpp-websocket', raw);
  return raw;
}

const HOUR = 3600_000;
const MiB = 1024 * 1024;

export const SETTINGS = [
  { key: 'listen', flag: 'listen', env: 'LISTEN', defaultText: '127.0.0.1:5280', help: 'address the WebSocket listener binds', parse: (r) => parseHostPort('listen', r) },
  { key: 'path', flag: 'path', env: 'PATH', defaultText: '/xmpp-websocket', help: 'HTTP path that upgrades to WebSocket (others get 404)', parse: (r) => parsePath('path', r) },
  { key: 'upstream', flag: 'upstream', env: 'UPSTREAM', defaultText: '127.0.0.1:5222', help: "XMPP server's c2s TCP endpoint", parse: (r) => parseHostPort('upstream', r) },
  { key: 'maxStanzaSize', flag: 'max-stanza-size', env: 'MAX_STANZA_SIZE', defaultText: '262144', help: 'largest element in bytes, either direction (min 10000)', parse: (r) => parseBytes('max-stanza-size', r, 10_000, 64 * MiB) },
  { key: 'maxDepth', flag: 'max-depth', env: 'MAX_DEPTH', defaultText: '64', help: 'deepest element nesting inside one stanza', parse: (r) => parseInteger('max-depth', r, 4, 1024) },
  { key: 'pingIntervalMs', flag: 'ping-interval', env: 'PING_INTERVAL', defaultText: '30s', help: 'WebSocket ping period; no pong by the next ping ends the session', parse: (r) => parseDuration('ping-interval', r, 100, HOUR) },
  { key: 'openTimeoutMs', flag: 'open-timeout', env: 'OPEN_TIMEOUT', defaultText: '10s', help: 'time allowed between the handshake and the client <open/>', parse: (r) => parseDuration('open-timeout', r, 100, HOUR) },
  { key: 'connectTimeoutMs', flag: 'connect-timeout', env: 'CONNECT_TIMEOUT', defaultText: '10s', help: 'upstream TCP connect timeout', parse: (r) => parseDuration('connect-timeout', r, 100, HOUR) },
  { key: 'closeTimeoutMs', flag: 'close-timeout', env: 'CLOSE_TIMEOUT', defaultText: '5s', help: "wait for the server's </stream:stream> after a client <close/>", parse: (r) => parseDuration('close-timeout', r, 0, HOUR) },
  { key: 'preConnectQueueBytes', flag: 'pre-connect-queue-bytes', env: 'PRE_CONNECT_QUEUE_BYTES', defaultText: '262144', help: 'client bytes held while upstream connects', parse: (r) => parseBytes('pre-connect-queue-bytes', r, 1024, 64 * MiB) },
  { key: 'preConnectQueueMessages', flag: 'pre-connect-queue-messages', env: 'PRE_CONNECT_QUEUE_MESSAGES', defaultText: '32', help: 'client messages held while upstream connects', parse: (r) => parseInteger('pre-connect-queue-messages', r, 1, 10_000) },
  { key: 'wsHighWaterMark', flag: 'ws-high-water-mark', env: 'WS_HIGH_WATER_MARK', defaultText: '1MiB', help: 'pause reading the server while this much is unsent to the client', parse: (r) => parseBytes('ws-high-water-mark', r, 16 * 1024, 1024 * MiB) },
  {
    key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', defaultText: 'info', help: LOG_LEVELS.join('|'),
    parse: (r) => (LOG_LEVELS.includes(r as LogLevel) ? (r as LogLevel) : fail('log-level', LOG_LEVELS.join(', '), r)),
  },
] as const satisfies readonly Setting<keyof Config>[];

export const ENV_PREFIX = 'XMPP_WS_GATEWAY_';

export type CliResult =
  | { readonly kind: 'run'; readonly config: Config }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version' };

/** Every option with its environment variable and default, for `--help` and the README. */
export function helpText(): string {
  const lines = ['Usage: xmpp-ws-gateway [options]', '', 'RFC 7395 XMPP-over-WebSocket to RFC 6120 c2s TCP gateway.', '', 'Options (environment variable in brackets; flags win over the environment):'];
  for (const s of SETTINGS) {
    lines.push(`  --${s.flag} <value>`.padEnd(38) + `${s.help} (default ${s.defaultText}) [${ENV_PREFIX}${s.env}]`);
  }
  lines.push('  -h, --help'.padEnd(38) + 'show this help', '  -v, --version'.padEnd(38) + 'print the version');
  return lines.join('\n');
}

/** Parses argv (without node and script) and the environment into a frozen Config. Throws ConfigError. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliResult {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const s of SETTINGS) options[s.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.replace(/\. To specify.*$/s, '')} (see --help)`);
  }
  if (values.help) return { kind: 'help', text: helpText() };
  if (values.version) return { kind: 'version' };
  const config: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const fromFlag = values[s.flag];
    const fromEnv = env[ENV_PREFIX + s.env];
    const raw = typeof fromFlag === 'string' ? fromFlag : fromEnv !== undefined && fromEnv !== '' ? fromEnv : s.defaultText;
    try {
      config[s.key] = s.parse(raw);
    } catch (err) {
      if (err instanceof ConfigError && typeof fromFlag !== 'string' && fromEnv !== undefined) {
        throw new ConfigError(err.message.replace(`--${s.flag}`, `${ENV_PREFIX}${s.env}`));
      }
      throw err;
    }
  }
  return { kind: 'run', config: Object.freeze(config as unknown as Config) };
}

/** The defaults, as the CLI would produce them with no flags and an empty environment. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  const result = parseCli([], {});
  if (result.kind !== 'run') throw new Error('unreachable');
  return Object.freeze({ ...result.config, ...overrides });
}
