/**
 * Every Prometheus metric the gateway exports, declared in this one place (prom-client).
 *
 * Conventions (prometheus.io naming guide): one prefix, base units in the name, `_total` on
 * counters, and bounded label values only — never a JID, IP address or connection id (those go in
 * logs). Label sets that are known up front are created at zero so dashboards and rate() see them
 * from the first scrape. Node's default process_* and nodejs_* metrics stay unprefixed so
 * community dashboards work.
 *
 * Hot-path counters are bound to their label values once (`.labels(...)` children), so counting an
 * element is a property lookup and an addition, not a label-hash computation. The once-per-session
 * ones (sessions, handshakes, connect time, session duration, closes) are fixed-label series too
 * (./fast-metrics.ts), found by a Map lookup: session setup was 1.6× the floor's CPU, and prom-client's
 * label hashing and validation on each of them was part of it.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from './version';
import { FixedLabelCounter, FixedLabelHistogram, type CounterSeries, type HistogramSeries } from './fast-metrics';
import { ORIGIN_REFUSAL_REASONS } from './http/origin';
import { FAILURES, STREAM_ERROR_CONDITIONS, type ErrorOrigin, type StreamErrorCondition } from './xmpp/stream-error';
import { BOSH_CONDITIONS } from './transports/bosh/conditions';

export const PREFIX = 'xmppgw_';

export type Direction = 'c2s' | 's2c';
export type ElementKind = 'message' | 'presence' | 'iq' | 'other';
export type HandshakeResult = 'accepted' | 'bad_protocol' | 'bad_origin' | 'bad_path' | 'over_limit' | 'rate_limited' | 'draining' | 'head_timeout' | 'pending_per_ip';
export type ConnectResult = 'ok' | 'refused' | 'timeout' | 'error';
export type SessionState = 'awaiting_open' | 'connecting' | 'open' | 'closing';
export type PauseSide = 'ws' | 'tcp' | 'rate_limit';

const KINDS: readonly ElementKind[] = ['message', 'presence', 'iq', 'other'];
const HANDSHAKE_RESULTS: readonly HandshakeResult[] = ['accepted', 'bad_protocol', 'bad_origin', 'bad_path', 'over_limit', 'rate_limited', 'draining', 'head_timeout', 'pending_per_ip'];
const CONNECT_RESULTS: readonly ConnectResult[] = ['ok', 'refused', 'timeout', 'error'];
export const SESSION_STATES: readonly SessionState[] = ['awaiting_open', 'connecting', 'open', 'closing'];
const PAUSE_SIDES: readonly PauseSide[] = ['ws', 'tcp', 'rate_limit'];
/** How a BOSH HTTP request was answered or routed (the `result` label of xmppgw_bosh_requests_total). */
export type BoshRequestResult =
  | 'created' | 'accepted' | 'out_of_order' | 'repeated' | 'forwarded' | 'preflight'
  | 'bad_request' | 'too_large' | 'item_not_found' | 'bad_origin' | 'bad_method' | 'over_limit' | 'rate_limited' | 'draining';
export const BOSH_REQUEST_RESULTS: readonly BoshRequestResult[] = [
  'created', 'accepted', 'out_of_order', 'repeated', 'forwarded', 'preflight',
  'bad_request', 'too_large', 'item_not_found', 'bad_origin', 'bad_method', 'over_limit', 'rate_limited', 'draining',
];
/** Why BOSH sessions ended: a terminal condition (XEP-0124 §17.2), `none` (clean), or `inactivity`. */
const BOSH_END_LABELS = [...BOSH_CONDITIONS, 'none', 'inactivity'] as const;
const ORIGINS: readonly ErrorOrigin[] = ['gateway', 'client', 'server'];
/** The close codes the gateway sends or sees; anything else is counted as `other`. */
const CLOSE_CODES = ['1000', '1001', '1003', '1006', '1007', '1009', '1011', 'other'] as const;

/** Latency buckets from 50 µs to 2.5 s: relaying is sub-millisecond, connecting and opening are not. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const SIZE_BUCKETS = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576];
const DURATION_BUCKETS = [1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600];

export interface MetricsOptions {
  /** Collect Node's default metrics (process_*, nodejs_*) into this registry. */
  readonly defaultMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();

  // 'first' across cluster workers: it is a constant 1 per process, summing would report the worker count.
  readonly buildInfo = new Gauge({ name: `${PREFIX}build_info`, help: 'Always 1; labels say which version runs.', labelNames: ['version', 'node_version'] as const, aggregator: 'first', registers: [this.registry] });
  readonly connections: Gauge<'state'>;
  readonly sessions = new FixedLabelCounter({ name: `${PREFIX}sessions_total`, help: 'Sessions that opened a stream, by framing: rfc7395, legacy (a <stream:stream> message, as load-testing tools send), or bosh (XEP-0206).', labelNames: ['framing'] as const, registers: [this.registry] });
  readonly handshakes = new FixedLabelCounter({ name: `${PREFIX}ws_handshakes_total`, help: 'WebSocket upgrade requests on the gateway path, by outcome (head_timeout, pending_per_ip: connections refused before their request head was complete).', labelNames: ['result'] as const, registers: [this.registry] });
  readonly originRefusals = new Counter({ name: `${PREFIX}origin_refusals_total`, help: 'Browser requests refused by --allowed-origins (HTTP 403), by reason: null_origin, other_host (same-origin: another host name), not_listed.', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly upstreamConnect = new FixedLabelHistogram({ name: `${PREFIX}upstream_connect_duration_seconds`, help: 'Time to get the XMPP server connection ready (routing, DNS, waiting for --upstream-connect-rate, TCP, PROXY header, STARTTLS or TLS), by outcome.', labelNames: ['result'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly upstreamTlsUnverified = new Counter({ name: `${PREFIX}upstream_tls_unverified_total`, help: 'Sessions whose server certificate was NOT verified (--upstream-tls-verify off: development only).', registers: [this.registry] });
  readonly dnsLookups = new Counter({ name: `${PREFIX}dns_lookups_total`, help: 'DNS lookups for routing, by result: cache_hit, answered, negative (no such name/record), failed (timeout, server failure).', labelNames: ['result'] as const, registers: [this.registry] });
  readonly streamOpen = new FixedLabelHistogram({ name: `${PREFIX}stream_open_latency_seconds`, help: "Client <open/> to the server's stream header relayed as <open/>.", labelNames: [] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly relayLatency = new FixedLabelHistogram({ name: `${PREFIX}relay_latency_seconds`, help: 'Element complete on one side to written on the other, by direction.', labelNames: ['direction'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly sessionDuration = new FixedLabelHistogram({ name: `${PREFIX}session_duration_seconds`, help: 'Session lifetime from WebSocket handshake to teardown, by close reason.', labelNames: ['reason'] as const, buckets: DURATION_BUCKETS, registers: [this.registry] });
  readonly elements = new FixedLabelCounter({ name: `${PREFIX}elements_total`, help: 'Top-level XML elements relayed, by direction (c2s = client to server) and stanza kind.', labelNames: ['direction', 'kind'] as const, registers: [this.registry] });
  readonly bytes = new FixedLabelCounter({ name: `${PREFIX}transferred_bytes_total`, help: 'Bytes relayed, by direction, as received (c2s: WebSocket payload; s2c: TCP payload).', labelNames: ['direction'] as const, registers: [this.registry] });
  readonly elementSize = new FixedLabelHistogram({ name: `${PREFIX}element_size_bytes`, help: 'Size of relayed top-level elements, by direction.', labelNames: ['direction'] as const, buckets: SIZE_BUCKETS, registers: [this.registry] });
  readonly streamErrors = new Counter({ name: `${PREFIX}stream_errors_total`, help: 'Stream errors, by RFC 6120 condition and who caused them.', labelNames: ['condition', 'origin'] as const, registers: [this.registry] });
  readonly wsCloses = new FixedLabelCounter({ name: `${PREFIX}ws_closes_total`, help: 'WebSocket connections ended, by close code (1006: dropped without a close frame).', labelNames: ['code'] as const, registers: [this.registry] });
  readonly pauses = new Counter({ name: `${PREFIX}backpressure_pauses_total`, help: 'Times reads were paused: ws = server slow, tcp = client slow, rate_limit = client over --max-bytes-per-second.', labelNames: ['side'] as const, registers: [this.registry] });

  readonly boshSessions: Gauge;
  readonly boshHeld: Gauge;
  readonly boshRequests = new Counter({ name: `${PREFIX}bosh_requests_total`, help: 'BOSH HTTP requests, by how they were handled (created a session, accepted in order, held out of order, repeated rid answered from cache, forwarded to the worker holding the session, or refused).', labelNames: ['result'] as const, registers: [this.registry] });
  readonly boshTerminations = new Counter({ name: `${PREFIX}bosh_terminations_total`, help: 'BOSH sessions ended, by the terminal condition sent (none = clean end, inactivity = the client stopped sending requests).', labelNames: ['condition'] as const, registers: [this.registry] });
  /** Called at scrape time: live BOSH sessions and held requests; set by the BOSH endpoint. */
  boshSource: (() => { sessions: number; held: number }) | null = null;

  /** The per-element hot path's series, bound once (see ./fast-metrics.ts). */
  readonly hot: {
    readonly elements: Record<Direction, Record<ElementKind, CounterSeries<'direction' | 'kind'>>>;
    readonly bytes: Record<Direction, CounterSeries<'direction'>>;
    readonly size: Record<Direction, HistogramSeries<'direction'>>;
    readonly relay: Record<Direction, HistogramSeries<'direction'>>;
    readonly streamOpen: HistogramSeries<never>;
  };

  /** Called at scrape time to count sessions by state (prom-client collect(), never a timer); set by the Gateway. */
  sessionStatesSource: (() => Record<SessionState, number>) | null = null;

  constructor(opts: MetricsOptions = {}) {
    const metrics = this;
    this.connections = new Gauge({
      name: `${PREFIX}connections`,
      help: 'Open client sessions by state, counted at scrape time.',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        if (metrics.sessionStatesSource === null) return;
        const counts = metrics.sessionStatesSource();
        for (const state of SESSION_STATES) this.set({ state }, counts[state]);
      },
    });
    this.boshSessions = new Gauge({
      name: `${PREFIX}bosh_sessions`, help: 'Open BOSH sessions (also counted in xmppgw_connections), at scrape time.', registers: [this.registry],
      collect() {
        if (metrics.boshSource !== null) this.set(metrics.boshSource().sessions);
      },
    });
    this.boshHeld = new Gauge({
      name: `${PREFIX}bosh_held_requests`, help: 'BOSH HTTP requests held open waiting for data, at scrape time.', registers: [this.registry],
      collect() {
        if (metrics.boshSource !== null) this.set(metrics.boshSource().held);
      },
    });
    this.boshSessions.set(0);
    this.boshHeld.set(0);
    for (const result of BOSH_REQUEST_RESULTS) this.boshRequests.inc({ result }, 0);
    for (const condition of BOSH_END_LABELS) this.boshTerminations.inc({ condition }, 0);
    this.buildInfo.set({ version: VERSION, node_version: process.version }, 1);
    for (const state of SESSION_STATES) this.connections.set({ state }, 0);
    for (const result of HANDSHAKE_RESULTS) this.handshakes.inc({ result }, 0);
    for (const reason of ORIGIN_REFUSAL_REASONS) this.originRefusals.inc({ reason }, 0);
    for (const framing of ['rfc7395', 'legacy', 'bosh']) this.sessions.inc({ framing }, 0);
    for (const result of CONNECT_RESULTS) this.upstreamConnect.zero({ result });
    for (const code of CLOSE_CODES) this.wsCloses.inc({ code }, 0);
    for (const result of ['cache_hit', 'answered', 'negative', 'failed']) this.dnsLookups.inc({ result }, 0);
    for (const side of PAUSE_SIDES) this.pauses.inc({ side }, 0);
    for (const origin of ORIGINS) {
      for (const condition of STREAM_ERROR_CONDITIONS) this.streamErrors.inc({ condition, origin }, 0);
    }
    for (const f of Object.values(FAILURES)) this.sessionDuration.zero({ reason: f.event });
    const byDirection = <T>(make: (direction: Direction) => T): Record<Direction, T> => ({ c2s: make('c2s'), s2c: make('s2c') });
    this.hot = {
      elements: byDirection((direction) => Object.fromEntries(KINDS.map((kind) => [kind, this.elements.child({ direction, kind })])) as Record<ElementKind, CounterSeries<'direction' | 'kind'>>),
      bytes: byDirection((direction) => this.bytes.child({ direction })),
      size: byDirection((direction) => this.elementSize.child({ direction })),
      relay: byDirection((direction) => this.relayLatency.child({ direction })),
      streamOpen: this.streamOpen.child({}),
    };
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts a stream error with a condition from the closed RFC 6120 set. */
  streamError(condition: StreamErrorCondition, origin: ErrorOrigin): void {
    this.streamErrors.inc({ condition, origin });
  }

  wsClosed(code: number): void {
    const label = (CLOSE_CODES as readonly string[]).includes(String(code)) ? String(code) : 'other';
    this.wsCloses.inc({ code: label });
  }
}

/**
 * The cluster primary's own metrics (--workers > 1), served next to the workers' aggregated ones.
 * The primary relays no traffic, so it only reports on its workers.
 */
export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly workerRestarts = new Counter({ name: `${PREFIX}worker_restarts_total`, help: 'Worker processes that died and were replaced (cluster primary only).', registers: [this.registry] });
  readonly workers: Gauge;

  constructor(countWorkers: () => number) {
    this.workers = new Gauge({
      name: `${PREFIX}workers`,
      help: 'Worker processes alive (cluster primary only).',
      registers: [this.registry],
      collect() {
        this.set(countWorkers());
      },
    });
  }
}

/** The stanza kind label of a top-level element name (RFC 6120 §8: message, presence, iq). */
export function elementKind(name: string): ElementKind {
  switch (name) {
    case 'message':
    case 'presence':
    case 'iq':
      return name;
    default:
      return 'other';
  }
}
