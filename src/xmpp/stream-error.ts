/**
 * The closed set of ways a session can fail, in one table (RFC 6120 §4.9.3, RFC 7395 §3.6, RFC 6455 §7.4.1).
 *
 * Each row names the RFC 6120 stream-error condition the client sees (or `null` where no stream error
 * is possible and only the WebSocket close code speaks), the WebSocket close code, whether the server
 * gets a clean `</stream:stream>` (false keeps a XEP-0198 session resumable), and the log event.
 * The README's error table is generated from this one (`npm run docs:errors`) so the two cannot drift.
 */
import { NS_STREAMS, NS_XMPP_STREAMS } from './namespaces';
import { escapeText } from '../xml/escape';
import { childrenOf } from '../xml/children';
import { extendScope, localName, namespaceOf, type NamespaceScope } from '../xml/standalone';
import type { ElementToken, TokenizerCondition } from '../xml/tokens';

/** RFC 6120 §4.9.3: every defined stream-error condition. */
export const STREAM_ERROR_CONDITIONS = [
  'bad-format',
  'bad-namespace-prefix',
  'conflict',
  'connection-timeout',
  'host-gone',
  'host-unknown',
  'improper-addressing',
  'internal-server-error',
  'invalid-from',
  'invalid-namespace',
  'invalid-xml',
  'not-authorized',
  'not-well-formed',
  'policy-violation',
  'remote-connection-failed',
  'reset',
  'resource-constraint',
  'restricted-xml',
  'see-other-host',
  'system-shutdown',
  'undefined-condition',
  'unsupported-encoding',
  'unsupported-feature',
  'unsupported-stanza-type',
  'unsupported-version',
] as const;
export type StreamErrorCondition = (typeof STREAM_ERROR_CONDITIONS)[number];

const CONDITION_SET: ReadonlySet<string> = new Set(STREAM_ERROR_CONDITIONS);
export function isStreamErrorCondition(name: string): name is StreamErrorCondition {
  return CONDITION_SET.has(name);
}

/** WebSocket close codes the gateway sends (RFC 6455 §7.4.1). */
export const WS_CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  /** Never sent on the wire: what ws reports when the TCP connection dropped without a close frame. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
});

/** Who caused a session to end: the metric label `origin` and the log field. */
export type ErrorOrigin = 'gateway' | 'client' | 'server';

export interface Failure {
  /** Stream error sent to the client before `<close/>`, or null when only the WebSocket close code is used. */
  readonly condition: StreamErrorCondition | null;
  readonly wsCloseCode: number;
  /** Send `</stream:stream>` upstream (a clean end the server will not offer to resume). */
  readonly closeUpstreamStream: boolean;
  readonly origin: ErrorOrigin;
  /** Log event name and `close_reason` label. */
  readonly event: string;
  /** One line for the README. */
  readonly description: string;
}

/** Every failure the gateway knows, keyed by a stable code. */
export const FAILURES = {
  OPEN_TIMEOUT: {
    condition: 'connection-timeout', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'open_timeout', description: 'no `<open/>` within `--open-timeout` of the WebSocket handshake',
  },
  FIRST_NOT_OPEN: {
    condition: 'not-well-formed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'first_message_not_open', description: 'the first message is not an `<open/>` element (RFC 7395 §3.4)',
  },
  BAD_FRAMING_NAMESPACE: {
    condition: 'invalid-namespace', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'invalid_namespace', description: '`<open/>` or `<close/>` not in `urn:ietf:params:xml:ns:xmpp-framing`, or a `<stream:stream>` header (RFC 7395 §3.3.1)',
  },
  CLIENT_UNEXPECTED_RESTART: {
    // RFC 6120 §4.9.3.12 not-authorized: the client "is not authorized to perform an action related
    // to stream negotiation" — a restart is one (§4.3.3), allowed only after SASL success (§6.4.6).
    // Not invalid-xml (§4.9.3.11 is for schema validation, which the gateway does not do).
    condition: 'not-authorized', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'client_unexpected_restart', description: 'the client restarted the stream (a second `<open/>`, or a legacy `<stream:stream>` header) other than right after the server\'s SASL `<success/>` (RFC 6120 §4.3.3, §6.4.6)',
  },
  CLIENT_NOT_WELL_FORMED: {
    condition: 'not-well-formed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'client_not_well_formed', description: 'a client message is not well-formed XML (bad syntax, mismatched tags, bad UTF-8 inside a tag, unbound prefix, stray text)',
  },
  CLIENT_RESTRICTED_XML: {
    condition: 'restricted-xml', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'client_restricted_xml', description: 'a client message holds a comment, processing instruction, DTD or undefined entity (RFC 6120 §11.1)',
  },
  CLIENT_TOO_BIG: {
    condition: 'policy-violation', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'client_stanza_too_big', description: 'a client element is larger than `--max-stanza-size`, or nests deeper than the depth limit',
  },
  CLIENT_FLOOD_BEFORE_READY: {
    condition: 'policy-violation', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'client_queue_overflow', description: 'the client sent more than the pre-connect queue allows while upstream was still connecting',
  },
  CLIENT_MESSAGE_TOO_BIG: {
    condition: null, wsCloseCode: WS_CLOSE.MESSAGE_TOO_BIG, closeUpstreamStream: true, origin: 'client',
    event: 'ws_message_too_big', description: 'a WebSocket message larger than twice `--max-stanza-size` (ws rejects it before buffering more)',
  },
  CLIENT_BINARY: {
    condition: null, wsCloseCode: WS_CLOSE.UNSUPPORTED_DATA, closeUpstreamStream: true, origin: 'client',
    event: 'ws_binary_message', description: 'a binary WebSocket message (RFC 7395 §3.2: text only)',
  },
  CLIENT_BAD_UTF8: {
    condition: null, wsCloseCode: WS_CLOSE.INVALID_PAYLOAD, closeUpstreamStream: true, origin: 'client',
    event: 'ws_invalid_utf8', description: 'a text message that is not valid UTF-8 (RFC 6455 §8.1)',
  },
  CLIENT_WS_PROTOCOL: {
    condition: null, wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'client',
    event: 'ws_protocol_error', description: 'any other WebSocket protocol error (ws closes with the RFC 6455 code); upstream is dropped as abnormal',
  },
  CLIENT_GONE: {
    condition: null, wsCloseCode: WS_CLOSE.ABNORMAL, closeUpstreamStream: false, origin: 'client',
    event: 'client_gone', description: 'the WebSocket ended without `<close/>` (network loss, page unload): upstream TCP is destroyed without `</stream:stream>` so XEP-0198 can resume',
  },
  PING_TIMEOUT: {
    condition: null, wsCloseCode: WS_CLOSE.ABNORMAL, closeUpstreamStream: false, origin: 'client',
    event: 'ping_timeout', description: 'no pong within `--ping-interval`: treated like a lost connection',
  },
  UPSTREAM_CONNECT_FAILED: {
    condition: 'remote-connection-failed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'gateway',
    event: 'upstream_connect_failed', description: 'the XMPP server refused, was unreachable, or did not accept within `--connect-timeout` (RFC 7395 §3.5)',
  },
  UPSTREAM_REQUIRES_TLS: {
    condition: 'unsupported-feature', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'gateway',
    event: 'upstream_requires_starttls', description: 'with `--upstream-tls none`, the server still made STARTTLS mandatory (use `auto`, the default)',
  },
  HOST_UNKNOWN: {
    condition: 'host-unknown', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'client',
    event: 'host_unknown', description: 'map or dns routing: the `<open to>` domain is missing, not a host name, not in `--allowed-domains`, or not in `--upstream-map`',
  },
  UPSTREAM_DNS_FAILED: {
    condition: 'remote-connection-failed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'gateway',
    event: 'upstream_dns_failed', description: 'the server\'s name does not resolve (NXDOMAIN, no address) or the resolvers did not answer within `--dns-timeout`',
  },
  UPSTREAM_ADDRESS_REFUSED: {
    condition: 'remote-connection-failed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'gateway',
    event: 'upstream_address_refused', description: 'dns routing: every address found is loopback, private, link-local or otherwise special-purpose, refused (SSRF protection; `--upstream-allow-private`)',
  },
  UPSTREAM_TLS_FAILED: {
    condition: 'remote-connection-failed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'gateway',
    event: 'upstream_tls_failed', description: 'TLS to the server failed: its certificate is not trusted or does not match the XMPP domain (RFC 6125), or the handshake failed; the log says what did not match',
  },
  UPSTREAM_STARTTLS_MISSING: {
    condition: 'remote-connection-failed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'gateway',
    event: 'upstream_starttls_missing', description: 'STARTTLS is required (`--upstream-tls starttls`, or `auto` in map/dns routing) but the server did not offer it',
  },
  UPSTREAM_NEGOTIATION_CLOSED: {
    condition: 'remote-connection-failed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'gateway',
    event: 'upstream_negotiation_closed', description: 'the server closed the connection in the middle of the STARTTLS or TLS negotiation',
  },
  UPSTREAM_NEGOTIATION_FAILED: {
    condition: 'remote-connection-failed', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'gateway',
    event: 'upstream_negotiation_failed', description: 'the server refused STARTTLS (`<failure/>`), sent a stream error, or sent something unreadable before TLS was up',
  },
  CLIENT_STARTTLS: {
    condition: null, wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'client_starttls', description: 'the client sent `<starttls/>` (never offered: TLS is the WebSocket\'s business, RFC 7395 §3.9): it gets `<failure xmlns=\'urn:ietf:params:xml:ns:xmpp-tls\'/>` and `<close/>` (RFC 6120 §5.4.2.2); nothing goes upstream',
  },
  UPSTREAM_BAD_XML: {
    condition: 'internal-server-error', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'server',
    event: 'upstream_bad_xml', description: 'the server sent XML the gateway cannot relay (not well-formed, restricted, or over `--max-stanza-size`); the server is told the precise condition',
  },
  UPSTREAM_CLOSED: {
    condition: null, wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'server',
    event: 'upstream_closed', description: 'the server ended the stream or the TCP connection: the client gets `<close/>` and WebSocket close 1000',
  },
  UPSTREAM_STREAM_ERROR: {
    condition: null, wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: false, origin: 'server',
    event: 'upstream_stream_error', description: 'the server sent `<stream:error>`: relayed as is, then `<close/>`',
  },
  CLIENT_CLOSED: {
    condition: null, wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'client',
    event: 'client_closed', description: 'the client sent `<close/>`: `</stream:stream>` upstream, wait up to `--close-timeout` for the server, `<close/>`, close 1000',
  },
  IDLE_TIMEOUT: {
    condition: 'connection-timeout', wsCloseCode: WS_CLOSE.NORMAL, closeUpstreamStream: true, origin: 'gateway',
    event: 'idle_timeout', description: 'no element in either direction for `--idle-timeout` (checked at each ping)',
  },
  SHUTDOWN: {
    condition: 'system-shutdown', wsCloseCode: WS_CLOSE.GOING_AWAY, closeUpstreamStream: false, origin: 'gateway',
    event: 'shutdown', description: 'the gateway is stopping and `--drain-timeout` has passed; upstream is dropped without `</stream:stream>` so XEP-0198 sessions can resume through another node',
  },
  SHUTDOWN_REDIRECT: {
    condition: null, wsCloseCode: WS_CLOSE.GOING_AWAY, closeUpstreamStream: false, origin: 'gateway',
    event: 'shutdown_redirect', description: 'as `shutdown`, with `--redirect-uri` set: `<close see-other-uri="…"/>` instead of the stream error (RFC 7395 §3.6.1)',
  },
  INTERNAL: {
    condition: 'internal-server-error', wsCloseCode: WS_CLOSE.INTERNAL_ERROR, closeUpstreamStream: true, origin: 'gateway',
    event: 'internal_error', description: 'a bug in the gateway (logged with a stack trace); the session ends, the process keeps serving',
  },
} as const satisfies Record<string, Failure>;

export type FailureCode = keyof typeof FAILURES;

/** A failure with its specific text (sent in `<text/>` and logged). */
export class SessionFailure extends Error {
  readonly code: FailureCode;
  readonly failure: Failure;
  constructor(code: FailureCode, text: string) {
    super(text);
    this.name = 'SessionFailure';
    this.code = code;
    this.failure = FAILURES[code];
  }
}

/**
 * `<stream:error>` as a standalone RFC 7395 message (the `stream` prefix declared on the element, §3.3.3)
 * or, with `standalone: false`, for a classic stream whose header already declares it.
 */
export function streamErrorXml(condition: StreamErrorCondition, text?: string, standalone = true): string {
  const decl = standalone ? ` xmlns:stream='${NS_STREAMS}'` : '';
  const textXml = text ? `<text xmlns='${NS_XMPP_STREAMS}'>${escapeText(text)}</text>` : '';
  return `<stream:error${decl}><${condition} xmlns='${NS_XMPP_STREAMS}'/>${textXml}</stream:error>`;
}

/**
 * The defined condition inside a `<stream:error/>` from the server, or `undefined-condition`: a child
 * whose local name is a condition, in `urn:ietf:params:xml:ns:xmpp-streams` however that namespace
 * was declared (on the child, the error, or the stream header: `scope`). A condition element in no
 * resolvable namespace is still taken, as before, rather than hiding what the server meant.
 */
export function streamErrorConditionOf(el: Pick<ElementToken, 'bytes' | 'nameEnd' | 'attrs'>, scope: NamespaceScope | null = null): StreamErrorCondition {
  const inError = scope === null ? null : extendScope(scope, el.attrs);
  let loose: StreamErrorCondition | null = null;
  for (const child of childrenOf(el) ?? []) {
    const name = localName(child.token.name);
    if (!isStreamErrorCondition(name)) continue;
    const ns = namespaceOf(child.token, inError);
    if (ns === NS_XMPP_STREAMS) return name;
    loose ??= name;
  }
  return loose ?? 'undefined-condition';
}

/** What is wrong with client XML (a tokenizer condition, or a bad framing namespace) → the row it ends the session with. */
export function clientXmlFailure(condition: TokenizerCondition | 'invalid-namespace'): FailureCode {
  switch (condition) {
    case 'restricted-xml':
      return 'CLIENT_RESTRICTED_XML';
    case 'policy-violation':
      return 'CLIENT_TOO_BIG';
    case 'invalid-namespace':
      return 'BAD_FRAMING_NAMESPACE';
    default:
      return 'CLIENT_NOT_WELL_FORMED';
  }
}
