/**
 * Typed configuration, parsed once at start-up and frozen. Sources, lowest precedence first:
 * built-in defaults, a YAML or JSON file (`--config`), environment variables (`XMPP_WS_GATEWAY_*`),
 * command-line flags. Every value is validated by a zod schema; an invalid one is a start-up error
 * naming the setting, where it came from, and what it expects. Nothing is checked per connection.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_TOKENIZER_LIMITS } from './xml/tokens';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `count` new connections per `windowMs`, per client IP. */
export interface Rate {
  readonly count: number;
  readonly windowMs: number;
}

/** How the gateway secures its hop to the XMPP server (RFC 6120 §5, XEP-0368). */
export type UpstreamTls = 'auto' | 'starttls' | 'direct' | 'none';
export const UPSTREAM_TLS_MODES = ['auto', 'starttls', 'direct', 'none'] as const;

/** How the XMPP server is chosen for a client's domain. */
export type RouteMode = 'fixed' | 'map' | 'dns';

/** One `--upstream-map` entry: `DOMAIN=HOST:PORT[/TLS]`. */
export interface MapEntry {
  /** Exact domain, or `*.example.org` for every subdomain of example.org. */
  readonly domain: string;
  readonly target: HostPort;
  /** Overrides --upstream-tls for this domain when given. */
  readonly tls: UpstreamTls | null;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The configuration: one field per row of {@link SETTINGS}, typed by that row's schema (each option
 * is described once, in the table: flag, environment variable, default, help, grammar).
 */
export type Config = { readonly [S in (typeof SETTINGS)[number] as S['key']]: z.output<S['schema']> };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

// ---------------------------------------------------------------- value grammars (pure)

const KiB = 1024;
const MiB = 1024 * 1024;
const HOUR = 3600_000;

/** `host:port`, `[v6]:port`; the host must be an IP literal or a DNS name. */
export function parseHostPort(raw: string): HostPort | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(raw) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(raw);
  if (!m) return null;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port > 65535) return null;
  if (raw.startsWith('[') && isIP(host) !== 6) return null;
  const dnsName = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
  if (isIP(host) === 0 && !dnsName.test(host)) return null;
  return { host, port };
}

/** `262144`, `256k`, `256KiB`, `1m`, `1MiB` → bytes. */
export function parseBytes(raw: string): number | null {
  const m = /^(\d+)\s*(k|kib|kb|m|mib|mb)?$/i.exec(raw.trim());
  if (!m) return null;
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit.startsWith('k') ? KiB : unit.startsWith('m') ? MiB : 1);
}

/** `30` (seconds), `30s`, `500ms`, `2m`, `1h` → milliseconds. */
export function parseDuration(raw: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) return null;
  const unit = m[2] ?? 's';
  return Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : HOUR));
}

/** A CIDR range (`10.0.0.0/8`, `::1/128`) or a single address. */
export function parseCidr(raw: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address, bits, extra] = raw.trim().split('/');
  if (address === undefined || extra !== undefined) return null;
  const v = isIP(address);
  if (v === 0) return null;
  const max = v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

// ---------------------------------------------------------------- zod schemas, one per kind of value

/** Raw input: a string from a flag or the environment, or a native YAML/JSON value from the file. */
const scalar = z.union([z.string(), z.number()]).transform((v) => String(v).trim());

const hostPort = scalar.transform((s, ctx) => parseHostPort(s) ?? (ctx.addIssue({ code: 'custom', message: 'expected HOST:PORT (e.g. 127.0.0.1:5280 or [::1]:5280) with PORT 0-65535' }), z.NEVER));
const hostPortOrOff = scalar.transform((s, ctx) => (s === 'off' ? null : parseHostPort(s) ?? (ctx.addIssue({ code: 'custom', message: 'expected HOST:PORT or "off"' }), z.NEVER)));
const bytes = (min: number, max: number) =>
  scalar
    .transform((s, ctx) => parseBytes(s) ?? (ctx.addIssue({ code: 'custom', message: 'expected a size in bytes (suffixes k/KiB, m/MiB allowed)' }), z.NEVER))
    .pipe(z.number().int().min(min, `expected at least ${min} bytes`).max(max, `expected at most ${max} bytes`));
const bytesOrZero = (min: number, max: number) =>
  scalar
    .transform((s, ctx) => parseBytes(s) ?? (ctx.addIssue({ code: 'custom', message: 'expected a size in bytes (suffixes k/KiB, m/MiB allowed), or 0 for unlimited' }), z.NEVER))
    .pipe(z.number().int().refine((n) => n === 0 || (n >= min && n <= max), `expected 0 (unlimited) or between ${min} and ${max} bytes`));
const duration = (minMs: number, maxMs: number) =>
  scalar
    .transform((s, ctx) => parseDuration(s) ?? (ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30, 30s, 500ms, 2m' }), z.NEVER))
    .pipe(z.number().min(minMs, `expected at least ${minMs} ms`).max(maxMs, `expected at most ${maxMs / 1000} s`));
const durationOrZero = (minMs: number, maxMs: number) =>
  duration(0, maxMs).refine((n) => n === 0 || n >= minMs, `expected 0 (off) or at least ${minMs} ms`);
const integer = (min: number, max: number) =>
  scalar.pipe(z.string().regex(/^\d+$/, 'expected a whole number')).transform(Number).pipe(z.number().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));
const rate = scalar.transform((s, ctx): Rate => {
  const m = /^(\d+)\s*\/\s*(.+)$/.exec(s);
  const windowMs = m ? parseDuration(m[2]!) : null;
  if (!m || windowMs === null || windowMs < 100 || windowMs > HOUR || Number(m[1]) > 1_000_000) {
    ctx.addIssue({ code: 'custom', message: 'expected COUNT/DURATION such as 30/10s (0/1s = unlimited)' });
    return z.NEVER;
  }
  return { count: Number(m[1]), windowMs };
});
/** A list: comma-separated in flags and the environment, a YAML/JSON array or string in the file. */
const list = (item: z.ZodType<string, string>) =>
  z.union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0))
    .pipe(z.array(item));
const origin = z.string().refine(
  (s) => s === '*' || s === 'same-origin' || s === 'null' || /^https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(s),
  'expected origins like https://chat.example.org, https://*.example.org, same-origin, null, or *',
);
const cidr = z.string().refine((s) => parseCidr(s) !== null, 'expected CIDR ranges such as 127.0.0.1/32, 10.0.0.0/8, ::1/128');
const DOMAIN_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const isDomainPattern = (s: string): boolean => DOMAIN_RE.test(s.startsWith('*.') ? s.slice(2) : s);
/** Comma-separated in flags and the environment, a YAML/JSON array or string in the file. */
const items = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0));
/** Domains for the allowlist: `example.org`, or `*.example.org` (every subdomain, not the domain itself). */
const domainPatterns = items.pipe(z.array(z.string().transform((s) => s.toLowerCase()).refine(isDomainPattern, 'expected domains such as example.org or *.example.org')));
const mapEntries = items.pipe(z.array(z.string().transform((s, ctx): MapEntry => {
  const m = /^([^=\s]+)=([^/\s]+)(?:\/(auto|starttls|direct|none))?$/.exec(s);
  const target = m ? parseHostPort(m[2]!) : null;
  const domain = m ? m[1]!.toLowerCase() : '';
  if (!m || target === null || target.port === 0 || !isDomainPattern(domain)) {
    ctx.addIssue({ code: 'custom', message: 'expected DOMAIN=HOST:PORT[/auto|starttls|direct|none], e.g. example.org=xmpp.example.org:5222' });
    return z.NEVER;
  }
  return { domain, target, tls: (m[3] as UpstreamTls | undefined) ?? null };
})));
const dnsServers = items.transform((list, ctx): HostPort[] => {
  if (list.length === 1 && list[0] === 'system') return [];
  const out: HostPort[] = [];
  for (const item of list) {
    const hp = isIP(item) !== 0 ? { host: item, port: 53 } : parseHostPort(item);
    if (hp === null || isIP(hp.host) === 0 || hp.port === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected "system" or IP[:PORT] addresses such as 127.0.0.1:5353, [::1]:53' });
      return z.NEVER;
    }
    out.push(hp);
  }
  return out;
});
const filePathOrOff = scalar.transform((s): string | null => (s === '' || s === 'off' ? null : s));
const path = scalar.pipe(z.string().regex(/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/, 'expected an absolute URL path such as /xmpp-websocket'));
/** `localhost`, 127.0.0.0/8 or [::1]: a host whose connections stay on this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}
const redirect = scalar.transform((s, ctx) => {
  if (s === '' || s === 'off') return null;
  let url: URL | null = null;
  try {
    url = new URL(s);
  } catch {
    url = null;
  }
  // RFC 7395 §3.6.1: never redirect a client to a less secure transport. The gateway cannot tell
  // whether a client reached it through a TLS-terminating proxy, so only wss:// may go anywhere;
  // ws:// only to a loopback host, where the connection never leaves the machine (W3C Secure
  // Contexts §3.1 counts such origins as potentially trustworthy): local setups and benchmarks.
  if (url === null || !(url.protocol === 'wss:' || (url.protocol === 'ws:' && isLoopbackHost(url.hostname)))) {
    ctx.addIssue({ code: 'custom', message: 'expected a wss:// URI (redirects never downgrade to ws://, except to a loopback host such as ws://127.0.0.1:5281/…)' });
    return z.NEVER;
  }
  return s;
});
const workers = scalar.transform((s, ctx) => {
  if (s === 'auto') return availableParallelism();
  if (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 256) return Number(s);
  ctx.addIssue({ code: 'custom', message: 'expected "auto" (one per CPU) or a number from 1 to 256' });
  return z.NEVER;
});

const onOff = scalar.pipe(z.enum(['on', 'off'], { message: 'expected on or off' })).transform((v) => v === 'on');
const domainOrEmpty = scalar.refine(
  (s) => s === '' || /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(s),
  'expected an XMPP domain such as example.org (or empty for none)',
);
/** A JSON object (flags, environment) or a mapping (config file), at most 16 KiB as JSON. */
const jsonObject = z.union([z.string(), z.record(z.string(), z.unknown())]).transform((v, ctx): Record<string, unknown> => {
  let value: unknown = v;
  if (typeof v === 'string') {
    try {
      value = v.trim() === '' ? {} : JSON.parse(v);
    } catch {
      value = null;
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || JSON.stringify(value).length > 16 * KiB) {
    ctx.addIssue({ code: 'custom', message: 'expected a JSON object of Converse.js settings, e.g. {"i18n":"de","show_send_button":true} (at most 16 KiB)' });
    return z.NEVER;
  }
  return value as Record<string, unknown>;
});

// ---------------------------------------------------------------- the settings table

interface Setting<K extends string = string, S extends z.ZodType<unknown, unknown> = z.ZodType<unknown, unknown>> {
  /** Field of {@link Config}. */
  readonly key: K;
  /** Flag and config-file key. */
  readonly flag: string;
  /** Environment variable, without the prefix. */
  readonly env: string;
  readonly defaultText: string;
  readonly help: string;
  /** Parses the raw text (flag, environment) or YAML/JSON value into the field's value. */
  readonly schema: S;
}

/** Keeps each row's key and schema types, from which {@link Config} is derived. */
const setting = <K extends string, S extends z.ZodType<unknown, unknown>>(row: Setting<K, S>): Setting<K, S> => row;

/** Every setting, in the order `--help` and the README list them. */
export const SETTINGS = [
  setting({ key: 'listen', flag: 'listen', env: 'LISTEN', defaultText: '127.0.0.1:5280', help: 'address the WebSocket listener binds', schema: hostPort }),
  setting({ key: 'listenBacklog', flag: 'listen-backlog', env: 'LISTEN_BACKLOG', defaultText: '4096', help: "connections the kernel queues before they are accepted (listen(2) backlog; Linux caps it at net.core.somaxconn); a reconnect storm beyond it loses SYNs, each costing its client a 1 s+ retransmit", schema: integer(1, 1_000_000) }),
  setting({ key: 'path', flag: 'path', env: 'PATH', defaultText: '/xmpp-websocket', help: 'HTTP path that upgrades to WebSocket (others get 404)', schema: path }),
  setting({ key: 'upstream', flag: 'upstream', env: 'UPSTREAM', defaultText: '127.0.0.1:5222', help: "XMPP server's c2s TCP endpoint (fixed route; a host name is resolved through the DNS cache)", schema: hostPort }),
  setting({ key: 'route', flag: 'route', env: 'ROUTE', defaultText: 'fixed', help: 'how the XMPP server is chosen: fixed (--upstream), map (--upstream-map), dns (SRV records of the <open to> domain)', schema: scalar.pipe(z.enum(['fixed', 'map', 'dns'], { message: 'expected fixed, map or dns' })) }),
  setting({ key: 'upstreamMap', flag: 'upstream-map', env: 'UPSTREAM_MAP', defaultText: '', help: 'map routing: comma-separated DOMAIN=HOST:PORT[/TLS] (DOMAIN may be *.example.org)', schema: mapEntries }),
  setting({ key: 'allowedDomains', flag: 'allowed-domains', env: 'ALLOWED_DOMAINS', defaultText: '', help: "map and dns routing: domains clients may ask for (example.org, *.example.org); others get host-unknown. Required in dns routing; in map routing defaults to the map's domains", schema: domainPatterns }),
  setting({ key: 'upstreamTls', flag: 'upstream-tls', env: 'UPSTREAM_TLS', defaultText: 'auto', help: 'auto: STARTTLS when the server offers it (required in map/dns routing), direct TLS for _xmpps-client SRV targets; starttls: required; direct: TLS from the first byte (XEP-0368); none: plaintext', schema: scalar.pipe(z.enum(UPSTREAM_TLS_MODES, { message: 'expected auto, starttls, direct or none' })) }),
  setting({ key: 'upstreamCa', flag: 'upstream-ca', env: 'UPSTREAM_CA', defaultText: 'off', help: 'PEM file of CA certificates trusted for the server, beside the system roots', schema: filePathOrOff }),
  setting({ key: 'upstreamTlsVerify', flag: 'upstream-tls-verify', env: 'UPSTREAM_TLS_VERIFY', defaultText: 'on', help: 'verify the server certificate against the XMPP domain (RFC 6125/7590); off is for development only (warns per session, counted in a metric)', schema: onOff }),
  setting({ key: 'upstreamAllowPrivate', flag: 'upstream-allow-private', env: 'UPSTREAM_ALLOW_PRIVATE', defaultText: 'off', help: 'dns routing: allow answers pointing at loopback, private, link-local and other special-purpose addresses (off = SSRF protection)', schema: onOff }),
  setting({ key: 'upstreamProxyProtocol', flag: 'upstream-proxy-protocol', env: 'UPSTREAM_PROXY_PROTOCOL', defaultText: 'off', help: 'send a PROXY protocol v1 or v2 header with the client address before the stream (the server must expect it)', schema: scalar.pipe(z.enum(['off', 'v1', 'v2'], { message: 'expected off, v1 or v2' })) }),
  setting({ key: 'dnsServers', flag: 'dns-server', env: 'DNS_SERVER', defaultText: 'system', help: 'resolvers for SRV/A/AAAA lookups (comma-separated IP[:PORT]), or system (/etc/resolv.conf)', schema: dnsServers }),
  setting({ key: 'dnsTimeoutMs', flag: 'dns-timeout', env: 'DNS_TIMEOUT', defaultText: '5s', help: 'per DNS query and server', schema: duration(100, 60_000) }),
  setting({ key: 'dnsCacheEntries', flag: 'dns-cache-entries', env: 'DNS_CACHE_ENTRIES', defaultText: '10000', help: 'most DNS answers kept, each for its TTL', schema: integer(1, 10_000_000) }),
  setting({ key: 'maxStanzaSize', flag: 'max-stanza-size', env: 'MAX_STANZA_SIZE', defaultText: String(DEFAULT_TOKENIZER_LIMITS.maxElementBytes), help: 'largest XML element (stanza, or stream header) in bytes as sent, either direction; a WebSocket message may be twice that (min 10000)', schema: bytes(10_000, 64 * MiB) }),
  setting({ key: 'maxDepth', flag: 'max-depth', env: 'MAX_DEPTH', defaultText: String(DEFAULT_TOKENIZER_LIMITS.maxDepth), help: 'deepest element nesting inside one stanza', schema: integer(4, 1024) }),
  setting({ key: 'pingIntervalMs', flag: 'ping-interval', env: 'PING_INTERVAL', defaultText: '30s', help: 'WebSocket ping period; no pong by the next ping ends the session', schema: duration(100, HOUR) }),
  setting({ key: 'openTimeoutMs', flag: 'open-timeout', env: 'OPEN_TIMEOUT', defaultText: '10s', help: 'time allowed between the handshake and the client <open/>', schema: duration(100, HOUR) }),
  setting({ key: 'connectTimeoutMs', flag: 'connect-timeout', env: 'CONNECT_TIMEOUT', defaultText: '10s', help: 'per upstream attempt: TCP connect, PROXY header, STARTTLS and TLS handshake', schema: duration(100, HOUR) }),
  setting({ key: 'closeTimeoutMs', flag: 'close-timeout', env: 'CLOSE_TIMEOUT', defaultText: '5s', help: "wait for the server's </stream:stream> after a client <close/>", schema: duration(0, HOUR) }),
  setting({ key: 'idleTimeoutMs', flag: 'idle-timeout', env: 'IDLE_TIMEOUT', defaultText: '0', help: 'end a session with no element either way for this long (0 = never; pings do not count)', schema: durationOrZero(1000, 24 * HOUR) }),
  setting({ key: 'preConnectQueueBytes', flag: 'pre-connect-queue-bytes', env: 'PRE_CONNECT_QUEUE_BYTES', defaultText: '262144', help: 'client bytes held while upstream connects', schema: bytes(KiB, 64 * MiB) }),
  setting({ key: 'preConnectQueueMessages', flag: 'pre-connect-queue-messages', env: 'PRE_CONNECT_QUEUE_MESSAGES', defaultText: '32', help: 'client messages held while upstream connects', schema: integer(1, 10_000) }),
  setting({ key: 'wsHighWaterMark', flag: 'ws-high-water-mark', env: 'WS_HIGH_WATER_MARK', defaultText: '1MiB', help: 'pause reading the server while this much is unsent to the client', schema: bytes(16 * KiB, 1024 * MiB) }),
  setting({ key: 'maxBytesPerSecond', flag: 'max-bytes-per-second', env: 'MAX_BYTES_PER_SECOND', defaultText: '1MiB', help: 'per-session client-to-server byte rate (2 s burst); reads pause above it (0 = unlimited)', schema: bytesOrZero(KiB, 1024 * MiB) }),
  setting({ key: 'maxConnections', flag: 'max-connections', env: 'MAX_CONNECTIONS', defaultText: '25000', help: 'concurrent sessions per worker process, HTTP 503 above (0 = unlimited)', schema: integer(0, 10_000_000) }),
  setting({ key: 'maxConnectionsPerIp', flag: 'max-connections-per-ip', env: 'MAX_CONNECTIONS_PER_IP', defaultText: '100', help: 'concurrent sessions from one client IP per worker, HTTP 429 above (0 = unlimited)', schema: integer(0, 10_000_000) }),
  setting({ key: 'connectionRatePerIp', flag: 'connection-rate-per-ip', env: 'CONNECTION_RATE_PER_IP', defaultText: '60/10s', help: 'new sessions from one client IP per window, per worker, HTTP 429 above (0/1s = unlimited)', schema: rate }),
  setting({ key: 'maxHeaderSize', flag: 'max-header-size', env: 'MAX_HEADER_SIZE', defaultText: '16KiB', help: 'largest HTTP request head, HTTP 431 above', schema: bytes(KiB, MiB) }),
  setting({ key: 'handshakeTimeoutMs', flag: 'handshake-timeout', env: 'HANDSHAKE_TIMEOUT', defaultText: '5s', help: 'time a new TCP connection has to send its complete HTTP request head (the WebSocket upgrade request), and a keep-alive connection each later head; HTTP 408 and close after, checked once a second (counted as `head_timeout`)', schema: duration(100, 5 * 60_000) }),
  setting({ key: 'maxHandshakesPerIp', flag: 'max-handshakes-per-ip', env: 'MAX_HANDSHAKES_PER_IP', defaultText: '16', help: 'connections from one client IP still sending their request head, HTTP 429 and close above; --trusted-proxies are not counted (0 = unlimited)', schema: integer(0, 1_000_000) }),
  setting({ key: 'allowedOrigins', flag: 'allowed-origins', env: 'ALLOWED_ORIGINS', defaultText: 'same-origin', help: 'browser Origins allowed (comma-separated; https://*.example.org wildcards; same-origin = the page\'s host name is the one the client asked for, any port or scheme; null; *), others get 403; requests without a browser Origin (non-browser clients) are allowed', schema: list(origin) }),
  setting({ key: 'trustedProxies', flag: 'trusted-proxies', env: 'TRUSTED_PROXIES', defaultText: '127.0.0.0/8,::1/128', help: 'CIDR ranges whose Forwarded and X-Forwarded-For/-Host/-Proto headers are believed', schema: list(cidr) }),
  setting({ key: 'metricsListen', flag: 'metrics-listen', env: 'METRICS_LISTEN', defaultText: '127.0.0.1:9464', help: 'listener for /metrics, /healthz, /readyz ("off" to disable)', schema: hostPortOrOff }),
  setting({ key: 'drainTimeoutMs', flag: 'drain-timeout', env: 'DRAIN_TIMEOUT', defaultText: '20s', help: 'on SIGTERM/SIGINT, grace period before remaining sessions get system-shutdown', schema: duration(0, HOUR) }),
  setting({ key: 'redirectUri', flag: 'redirect-uri', env: 'REDIRECT_URI', defaultText: 'off', help: 'wss:// URI sent as <close see-other-uri> when draining (RFC 7395 §3.6.1); ws:// only to a loopback host', schema: redirect }),
  setting({ key: 'upstreamConnectRate', flag: 'upstream-connect-rate', env: 'UPSTREAM_CONNECT_RATE', defaultText: '0/1s', help: 'new TCP connections to the XMPP server per window, per worker; more wait their turn within --connect-timeout (0/1s = unlimited)', schema: rate }),
  setting({ key: 'upstreamProbeIntervalMs', flag: 'upstream-probe-interval', env: 'UPSTREAM_PROBE_INTERVAL', defaultText: '5s', help: 'how often /readyz re-checks that the upstream port accepts TCP', schema: duration(100, HOUR) }),
  setting({ key: 'workers', flag: 'workers', env: 'WORKERS', defaultText: 'auto', help: 'worker processes sharing the listener (auto = one per CPU; 1 = single process)', schema: workers }),
  setting({ key: 'legacyFraming', flag: 'legacy-framing', env: 'LEGACY_FRAMING', defaultText: 'auto', help: 'auto: a client whose first message is a <stream:stream> header (Tsung and other load testers) is served in that older framing; off: such clients get invalid-namespace', schema: scalar.pipe(z.enum(['auto', 'off'], { message: 'expected auto or off' })) }),
  setting({ key: 'bosh', flag: 'bosh', env: 'BOSH', defaultText: 'on', help: 'serve BOSH (XEP-0124/XEP-0206) on --bosh-path of the same listener: on or off', schema: onOff }),
  setting({ key: 'boshPath', flag: 'bosh-path', env: 'BOSH_PATH', defaultText: '/http-bind', help: 'HTTP path of the BOSH endpoint (must differ from --path)', schema: path }),
  setting({ key: 'boshMaxWaitMs', flag: 'bosh-max-wait', env: 'BOSH_MAX_WAIT', defaultText: '50s', help: "longest a BOSH request is held waiting for data (caps the client's wait; keep it under your proxy's read timeout, often 60 s)", schema: duration(1000, 10 * 60_000) }),
  setting({ key: 'boshMaxHold', flag: 'bosh-max-hold', env: 'BOSH_MAX_HOLD', defaultText: '1', help: "most requests held per BOSH session (caps the client's hold; requests = hold + 1)", schema: integer(1, 8) }),
  setting({ key: 'boshInactivityMs', flag: 'bosh-inactivity', env: 'BOSH_INACTIVITY', defaultText: '60s', help: 'a BOSH session with no request for this long ends (the client is gone)', schema: duration(5000, HOUR) }),
  setting({ key: 'boshMaxPauseMs', flag: 'bosh-max-pause', env: 'BOSH_MAX_PAUSE', defaultText: '120s', help: 'longest pause a BOSH client may ask for (XEP-0124 §10 maxpause; 0 = not offered)', schema: durationOrZero(5000, HOUR) }),
  setting({ key: 'boshMaxBodySize', flag: 'bosh-max-body-size', env: 'BOSH_MAX_BODY_SIZE', defaultText: '512KiB', help: 'largest BOSH request body, refused with HTTP 413 before it is read', schema: bytes(10_000, 64 * MiB) }),
  setting({ key: 'boshMaxQueued', flag: 'bosh-max-queued', env: 'BOSH_MAX_QUEUED', defaultText: '1MiB', help: 'server data queued per BOSH session for the next request; above it the server is not read (nothing is dropped)', schema: bytes(16 * KiB, 1024 * MiB) }),
  setting({ key: 'webClient', flag: 'web-client', env: 'WEB_CLIENT', defaultText: 'off', help: 'on: serve the Converse.js chat page at / on the listener, connected to this gateway (npm run demo turns it on)', schema: onOff }),
  setting({ key: 'webClientDomain', flag: 'web-client-domain', env: 'WEB_CLIENT_DOMAIN', defaultText: '', help: 'XMPP domain the chat page logs in to when a user types a bare name (Converse.js default_domain; empty = users type full JIDs)', schema: domainOrEmpty }),
  setting({ key: 'webClientSettings', flag: 'web-client-settings', env: 'WEB_CLIENT_SETTINGS', defaultText: '{}', help: 'more Converse.js settings for the chat page, as a JSON object (a mapping in the config file), merged over the gateway\'s', schema: jsonObject }),
  setting({ key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', defaultText: 'info', help: LOG_LEVELS.join('|'), schema: scalar.pipe(z.enum(LOG_LEVELS, { message: `expected one of ${LOG_LEVELS.join(', ')}` })) }),
  setting({ key: 'logFormat', flag: 'log-format', env: 'LOG_FORMAT', defaultText: 'json', help: 'json (one object per line) or pretty (for humans; needs the optional pino-pretty)', schema: scalar.pipe(z.enum(['json', 'pretty'], { message: 'expected json or pretty' })) }),
] as const;

export const ENV_PREFIX = 'XMPP_WS_GATEWAY_';
const CONFIG_ENV = `${ENV_PREFIX}CONFIG`;

/** Flags that are not settings. */
const COMMANDS = {
  config: { type: 'string', help: `read settings from a YAML or JSON file (keys are the flag names) [${CONFIG_ENV}]` },
  'print-config': { type: 'boolean', help: 'print the effective configuration as JSON and exit' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
  version: { type: 'boolean', short: 'v', help: 'print the version' },
} as const;

export type CliResult =
  | { readonly kind: 'run'; readonly config: Config }
  | { readonly kind: 'print-config'; readonly config: Config; readonly text: string }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version' };

/** Every option with its environment variable and default, for `--help`. */
export function helpText(): string {
  const lines = [
    'Usage: xmpp-ws-gateway [options]',
    '',
    'RFC 7395 XMPP-over-WebSocket to RFC 6120 c2s TCP gateway.',
    '',
    'Options (precedence: flags, then environment variables [in brackets], then the --config file, then defaults):',
  ];
  for (const s of SETTINGS) lines.push(`  --${s.flag} <value>`.padEnd(38) + `${s.help} (default ${s.defaultText === '' ? 'empty' : s.defaultText}) [${ENV_PREFIX}${s.env}]`);
  for (const [flag, c] of Object.entries(COMMANDS)) {
    const name = 'short' in c ? `-${c.short}, --${flag}` : `--${flag}${c.type === 'string' ? ' <file>' : ''}`;
    lines.push(`  ${name}`.padEnd(38) + c.help);
  }
  return lines.join('\n');
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let data: unknown;
  try {
    data = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`config file ${file} must hold a mapping of setting names to values`);
  const known = new Set(SETTINGS.map((s) => s.flag));
  for (const key of Object.keys(data)) {
    if (!known.has(key)) throw new ConfigError(`config file ${file}: unknown setting "${key}" (settings are named like the flags, e.g. max-stanza-size)`);
  }
  return data as Record<string, unknown>;
}

/**
 * Parses argv (without node and script), the environment and the optional config file into a frozen
 * Config. Throws ConfigError naming the setting and its source.
 */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliResult {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [flag, c] of Object.entries(COMMANDS)) options[flag] = 'short' in c ? { type: c.type, short: c.short } : { type: c.type };
  for (const s of SETTINGS) options[s.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.replace(/\s*To specify.*$/s, '')} (see --help)`);
  }
  if (values.help) return { kind: 'help', text: helpText() };
  if (values.version) return { kind: 'version' };

  const file = typeof values.config === 'string' ? values.config : env[CONFIG_ENV] || undefined;
  const fromFile = file === undefined ? {} : readConfigFile(file);
  const config: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const flag = values[s.flag];
    const envValue = env[ENV_PREFIX + s.env];
    let raw: unknown;
    let source: string;
    if (typeof flag === 'string') [raw, source] = [flag, `--${s.flag}`];
    else if (envValue !== undefined && envValue !== '') [raw, source] = [envValue, ENV_PREFIX + s.env];
    else if (s.flag in fromFile) [raw, source] = [fromFile[s.flag], `${s.flag} in ${file}`];
    else [raw, source] = [s.defaultText, `default of --${s.flag}`];
    const parsed = s.schema.safeParse(raw);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      throw new ConfigError(`invalid ${source} ${JSON.stringify(raw)}: ${why}`);
    }
    config[s.key] = parsed.data;
  }
  checkRouting(config as unknown as Config);
  const frozen = Object.freeze(config as unknown as Config);
  if (frozen.bosh && frozen.boshPath === frozen.path) {
    throw new ConfigError(`--bosh-path ${frozen.boshPath} is also the WebSocket --path: give BOSH its own path (or --bosh off)`);
  }
  if (values['print-config']) return { kind: 'print-config', config: frozen, text: printConfig(frozen) };
  return { kind: 'run', config: frozen };
}

/** Settings that only make sense together (checked once, at start-up). */
function checkRouting(c: Config): void {
  if (c.route === 'map' && c.upstreamMap.length === 0) throw new ConfigError('--route map needs --upstream-map (DOMAIN=HOST:PORT,...)');
  // Never an open relay: DNS routing goes only to domains the operator named.
  if (c.route === 'dns' && c.allowedDomains.length === 0) throw new ConfigError('--route dns needs --allowed-domains (example.org, *.example.org): the gateway is never an open relay');
}

/** Keys whose values would be secrets; masked by --print-config (none of today's settings, but any future one matching). */
const SECRET = /(password|secret|token|credential|key)$/i;

/** The effective configuration as JSON, with secrets masked. */
export function printConfig(config: Config): string {
  return JSON.stringify(config, (k, v: unknown) => (k !== '' && SECRET.test(k) && v !== null ? '********' : v), 2);
}

/**
 * A typed value back in the raw form its setting's grammar reads, so values given in code go
 * through the same schema as flags: `{host, port}` → `host:port`, a Rate → `count/windowMs`,
 * null → `off`, booleans → `on`/`off`, a map entry → `domain=host:port[/tls]`, lists item by item,
 * and milliseconds (fields named `…Ms`) → `Nms`.
 */
function toRaw(key: string, value: unknown): unknown {
  if (value === null) return 'off';
  // on/off settings parse to booleans; give them back in the grammar their schema reads.
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') return key.endsWith('Ms') ? `${value}ms` : value;
  // Lists: each item back to its text form (a map entry, a host:port), strings as they are.
  if (Array.isArray(value)) return value.map((item: unknown) => (typeof item === 'string' ? item : toRaw(key, item)));
  if (typeof value === 'object' && value !== null) {
    const v = value as Partial<HostPort & Rate & MapEntry>;
    if (typeof v.domain === 'string' && v.target !== undefined) return `${v.domain}=${toRaw(key, v.target) as string}${v.tls ? `/${v.tls}` : ''}`;
    if (typeof v.host === 'string' && typeof v.port === 'number') return v.host.includes(':') ? `[${v.host}]:${v.port}` : `${v.host}:${v.port}`;
    if (typeof v.count === 'number' && typeof v.windowMs === 'number') return `${v.count}/${v.windowMs}ms`;
  }
  return value;
}

/**
 * Checks settings given in code (`defaultConfig` overrides, a Config handed to `Gateway`) as the
 * CLI checks flags: each must name a setting and pass its schema. Returns the parsed values; throws
 * ConfigError naming the setting.
 */
export function validateSettings(values: Readonly<Record<string, unknown>>): Partial<Config> {
  const byKey = new Map<string, (typeof SETTINGS)[number]>(SETTINGS.map((s) => [s.key, s]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const s = byKey.get(key);
    if (s === undefined) throw new ConfigError(`unknown setting "${key}" (settings are the fields of Config, e.g. maxStanzaSize for --max-stanza-size)`);
    if (value === undefined) continue;
    const parsed = s.schema.safeParse(toRaw(key, value));
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      throw new ConfigError(`invalid ${key} (--${s.flag}) ${JSON.stringify(value)}: ${why}`);
    }
    out[key] = parsed.data;
  }
  return out as Partial<Config>;
}

/** The defaults, as the CLI would produce them with no flags and an empty environment, with `overrides` checked and applied. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  const result = parseCli([], {});
  if (result.kind !== 'run') throw new Error('unreachable');
  return Object.freeze({ ...result.config, ...validateSettings(overrides) });
}
