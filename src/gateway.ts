/**
 * The public listener: upgrades requests on the configured path to RFC 7395 WebSockets and gives each
 * one a Session; answers plain HTTP with a short page or 404; enforces the admission limits; runs the
 * ping/idle sweep; drains on shutdown.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { validateSettings, type Config } from './config';
import { limitsFrom, type Limits } from './limits';
import { clientAddress, isTrustedPeer } from './http/client-ip';
import { publicAuthority } from './http/forwarded';
import { altConnections, publicBoshUrl, publicWebSocketUrl, serveHostMeta } from './http/host-meta';
import { WebClient, findConversePackage } from './http/web-client';
import { Metrics, SESSION_STATES, type HandshakeResult, type SessionState as MetricState } from './metrics';
import { Session } from './session/session';
import type { ClientTransport } from './session/transport';
import { AdmissionControl } from './http/admission';
import { PendingHandshakes } from './http/pending-handshakes';
import { TrustedProxies } from './http/trusted-proxies';
import { checkUpgrade, requestPath, selectProtocol, type HandshakeVerdict } from './transports/websocket/handshake';
import { initialFraming, type Framing } from './transports/websocket/framing';
import { WebSocketTransport } from './transports/websocket/transport';
import type { Dialer } from './upstream/dialer';
import { UpstreamProbe } from './upstream/probe';
import { createUpstreamDialer } from './upstream/create';
import { ConnectPacer } from './upstream/connect-pacer';
import type { Readiness } from './http/ops-server';
import { VERSION } from './version';
import { MessageTokenizer } from './xml/message-tokenizer';
import { LogThrottle } from './util/log-throttle';
import { BoshEndpoint, type BoshRouter } from './transports/bosh/endpoint';

export interface GatewayOptions {
  readonly config: Config;
  readonly log: Logger;
  /** Defaults to a fresh registry with Node's default metrics. */
  readonly metrics?: Metrics;
  /** How sessions reach the XMPP server (./upstream/dialer.ts); defaults to the configured routing and TLS (./upstream/dial.ts). */
  readonly dialer?: Dialer;
  /** With --workers > 1: how BOSH requests reach the worker holding their session (./transports/bosh/peers.ts). */
  readonly boshRouter?: BoshRouter;
  /** The clock of the refusal log windows (one line per minute per limit and address, per Origin). @defaultValue `Date.now` */
  readonly clock?: () => number;
}


/** Writes a plain-text HTTP error on a socket that asked to upgrade, then closes it (ws abortHandshake style). */
function rejectUpgrade(socket: Duplex, status: number, reason: string, extraHeaders = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = Buffer.from(reason, 'utf8');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
      `Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n${extraHeaders}` +
      `Content-Length: ${body.length}\r\n\r\n${reason}`,
  );
}

/**
 * Test-only seam: `gateway[kLiveSessions]` is the set of live sessions, so a test can inject a
 * fault into one of them and watch the others (tests/integration/fault-isolation.test.ts). Not a
 * configuration option, not part of the public API.
 */
export const kLiveSessions = Symbol('xmpp-ws-gateway.live-sessions');

/** A socket error listener shared by every upgraded socket (no closure per connection): `this` is the socket. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * Answers a connection that never got to send a full request (deadline or per-IP pending limit),
 * then closes it as soon as the answer is flushed: a slow client must not keep it half-open.
 */
function refuse(socket: net.Socket, status: number, reason: string, extraHeaders = ''): void {
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = Buffer.from(reason, 'utf8');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n${extraHeaders}Content-Length: ${body.length}\r\n\r\n${reason}`,
    () => socket.destroy(),
  );
}

const CONN_ID_PREFIX = `${randomBytes(4).toString('hex')}-`;
let connCounter = 0;

/** Each row names the setting that refused, for the operator's log line (see refusedByLimit). */
const ADMISSION_REJECTS = {
  over_limit: { status: 503, result: 'over_limit', limit: 'max-connections', reason: 'Service Unavailable: the gateway is at its connection limit (--max-connections)\n', headers: 'Retry-After: 5\r\n' },
  per_ip: { status: 429, result: 'over_limit', limit: 'max-connections-per-ip', reason: 'Too Many Requests: too many sessions from your address (--max-connections-per-ip)\n', headers: 'Retry-After: 10\r\n' },
  rate_limited: { status: 429, result: 'rate_limited', limit: 'connection-rate-per-ip', reason: 'Too Many Requests: new sessions from your address arrive too fast (--connection-rate-per-ip)\n', headers: 'Retry-After: 10\r\n' },
} as const;
/** The limits whose refusals are warned about by name: the admission table's, and the pending-head cap. */
type AdmissionLimit = (typeof ADMISSION_REJECTS)[keyof typeof ADMISSION_REJECTS]['limit'] | 'max-handshakes-per-ip';

/** A refused handshake is warned about once per client address and limit per minute, for at most this many addresses. */
const REFUSAL_LOG_WINDOW_MS = 60_000;
const REFUSAL_LOG_MAX_ADDRESSES = 1000;

export class Gateway {
  readonly config: Config;
  readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private readonly admission: AdmissionControl;
  /** Connections still sending their request head (--handshake-timeout, --max-handshakes-per-ip). */
  private readonly pending: PendingHandshakes;
  /** Every size and count limit, derived once from the configuration. */
  private readonly limits: Limits;
  /** One tokenizer for every session's client messages (see ./xml/message-tokenizer.ts). */
  private readonly messages: MessageTokenizer;
  private readonly trusted;
  private readonly probe: UpstreamProbe;
  private readonly refusals: LogThrottle;
  /**
   * Refused Origins: one warn line per Origin per minute, at most 1000 Origins remembered (a page
   * retrying in a loop, or a scanner cycling made-up Origins, must not flood the log).
   */
  private readonly originWarnings: LogThrottle;
  /** The Converse.js page (--web-client on), else null. */
  private readonly webClient: WebClient | null;
  /** `host:port` the listener is bound to: the public host when a request names none. */
  private boundHost = '';
  /** --upstream-connect-rate, shared by this worker's sessions; undefined when unlimited. */
  private readonly connectPacer: ConnectPacer | undefined;
  private readonly dialer: Dialer;
  /** The framing every new WebSocket starts in (--legacy-framing). */
  private readonly framing: Framing;
  private sweepTimer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;
  private readonly idle: Array<() => void> = [];
  /** The BOSH endpoint on --bosh-path, or null with --bosh off. */
  readonly bosh: BoshEndpoint | null;

  constructor({ config, log, metrics, dialer, boshRouter, clock = Date.now }: GatewayOptions) {
    this.refusals = new LogThrottle(REFUSAL_LOG_WINDOW_MS, REFUSAL_LOG_MAX_ADDRESSES, clock);
    this.originWarnings = new LogThrottle(REFUSAL_LOG_WINDOW_MS, REFUSAL_LOG_MAX_ADDRESSES, clock);
    // A Config built in code (embedding, tests) is checked like the CLI's: a bad value throws
    // ConfigError naming the setting, here rather than as a strange failure later.
    validateSettings(config);
    this.config = config;
    this.log = log;
    this.metrics = metrics ?? new Metrics({ defaultMetrics: true });
    this.metrics.sessionStatesSource = () => this.sessionStates();
    this.admission = new AdmissionControl(config);
    this.limits = limitsFrom(config);
    this.messages = new MessageTokenizer(this.limits.xml);
    this.trusted = new TrustedProxies(config.trustedProxies);
    this.webClient = config.webClient ? new WebClient(findConversePackage(), config.webClientDomain, config.webClientSettings) : null;
    this.connectPacer = config.upstreamConnectRate.count > 0 ? new ConnectPacer(config.upstreamConnectRate) : undefined;
    this.dialer = dialer ?? createUpstreamDialer(config, log, this.metrics, this.connectPacer);
    this.framing = initialFraming(config.legacyFraming);
    this.probe = new UpstreamProbe(config.upstream, config.upstreamProbeIntervalMs, Math.min(config.connectTimeoutMs, 2000));
    // --handshake-timeout is Node's own deadline on a request head, from accept for the first and
    // for each later one on a keep-alive connection, checked every connectionsCheckingInterval; it
    // reaches clientError below as ERR_HTTP_REQUEST_TIMEOUT.
    this.server = http.createServer(
      {
        maxHeaderSize: config.maxHeaderSize,
        headersTimeout: config.handshakeTimeoutMs,
        requestTimeout: config.handshakeTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, config.handshakeTimeoutMs),
      },
      (req, res) => {
        this.pending.settle(req.socket);
        this.onRequest(req, res);
      },
    );
    this.pending = new PendingHandshakes(config.maxHandshakesPerIp, this.trusted);
    this.server.on('connection', (socket: net.Socket) => {
      if (this.pending.track(socket) === 'ok') return;
      this.metrics.handshakes.inc({ result: 'pending_per_ip' });
      this.refusedByLimit('max-handshakes-per-ip', 429, socket.remoteAddress ?? 'unknown');
      refuse(socket, 429, 'Too Many Requests: too many connections from your address are still sending their request (--max-handshakes-per-ip)\n', 'Retry-After: 10\r\n');
    });
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Messages above twice the element limit are refused by ws before being buffered (close 1009);
      // anything smaller reaches the tokenizer, which ends an oversized element with policy-violation
      // (see ./limits.ts).
      maxPayload: this.limits.maxWebSocketMessageBytes,
      perMessageDeflate: false,
      handleProtocols: selectProtocol,
    });
    this.bosh = config.bosh
      ? new BoshEndpoint({
          config,
          log,
          metrics: this.metrics,
          xml: this.limits.xml,
          admit: (ip) => this.admission.admit(ip),
          startCore: (transport, ip, sid) => this.startBoshCore(transport, ip, sid),
          isDraining: () => this.draining !== null,
          router: boshRouter,
        })
      : null;
    this.server.on('upgrade', (req, socket, head) => {
      this.pending.settle(req.socket);
      // A bug in the upgrade path costs this one connection, never the process.
      try {
        this.onUpgrade(req, socket, head);
      } catch (err) {
        this.log.error({ event: 'internal_error', where: 'upgrade', err: err instanceof Error ? err.stack : String(err) }, 'internal error in upgrade');
        this.metrics.streamError('internal-server-error', 'gateway');
        socket.destroy();
      }
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // The head deadline (headersTimeout above).
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        this.pending.settle(socket as net.Socket);
        this.headTimedOut(socket as net.Socket);
        return;
      }
      // Node's parser errors: an oversized head (--max-header-size) is 431, anything else 400.
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      this.log.debug({ event: 'http_client_error', code: err.code }, 'bad HTTP request');
      rejectUpgrade(socket, tooLarge ? 431 : 400, tooLarge ? 'Request Header Fields Too Large\n' : 'Bad Request\n');
    });
  }

  /** Starts listening; resolves with the bound address (port 0 → the real port). */
  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      // A reconnect storm arrives faster than one event loop accepts; Node's default backlog (511)
      // would drop the excess SYNs, and each drop costs its client a 1 s, then 3 s retransmit.
      this.server.listen({ port: this.config.listen.port, host: this.config.listen.host, backlog: this.config.listenBacklog }, () => {
        this.server.removeListener('error', reject);
        resolve();
      });
    });
    this.sweepTimer = setInterval(() => this.sweep(), this.config.pingIntervalMs);
    const address = this.server.address() as AddressInfo;
    this.boundHost = `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    this.log.info(
      { event: 'listening', address: address.address, port: address.port, path: this.config.path, upstream: `${this.config.upstream.host}:${this.config.upstream.port}` },
      `listening on ${address.address}:${address.port}${this.config.path}`,
    );
    return address;
  }

  /** One timer for all sessions: pings, pong and idle checks, and forgetting idle client addresses. */
  private sweep(): void {
    const now = Date.now();
    for (const session of this.sessions) session.heartbeat(now);
    try {
      this.admission.sweep();
    } catch (err) {
      this.log.error({ event: 'internal_error', where: 'admission sweep', err: err instanceof Error ? err.stack : String(err) }, 'internal error in the admission sweep');
    }
    for (const line of this.refusals.flush()) {
      const [limit, ip] = line.key.split('\u0000') as [AdmissionLimit, string];
      const from = ip === '*' ? 'other addresses' : ip;
      this.log.warn(
        { event: 'handshakes_rejected_suppressed', limit, remote_addr: ip === '*' ? undefined : ip, suppressed: line.suppressed },
        `${line.suppressed} more handshakes from ${from} refused by --${limit} in the last ${REFUSAL_LOG_WINDOW_MS / 1000} s`,
      );
    }
    for (const line of this.originWarnings.flush()) {
      const origin = line.overflow ? undefined : line.key;
      this.log.warn(
        { event: 'origin_refused_suppressed', origin, suppressed: line.suppressed },
        `${line.suppressed} more handshakes refused for Origin ${origin ?? '(other Origins)'} in the last ${REFUSAL_LOG_WINDOW_MS / 1000} s`,
      );
    }
  }

  get [kLiveSessions](): ReadonlySet<Session> {
    return this.sessions;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get isDraining(): boolean {
    return this.draining !== null;
  }

  /** Sessions by state, for the `connections` gauge at scrape time. */
  sessionStates(): Record<MetricState, number> {
    const counts = Object.fromEntries(SESSION_STATES.map((s) => [s, 0])) as Record<MetricState, number>;
    for (const s of this.sessions) if (s.state !== 'closed') counts[s.state]++;
    return counts;
  }

  /** /readyz: not draining, under the connection limit, and the XMPP server accepts TCP. */
  async readiness(): Promise<Readiness> {
    if (this.draining !== null) return { ready: false, reason: 'draining' };
    if (this.config.maxConnections > 0 && this.admission.active >= this.config.maxConnections) {
      return { ready: false, reason: `at the connection limit (${this.config.maxConnections})` };
    }
    // Map and dns routing reach many servers, chosen per client: there is no one port to probe.
    if (this.config.route !== 'fixed') return { ready: true, reason: 'ready' };
    const probe = await this.probe.check();
    return probe.ok ? { ready: true, reason: 'ready' } : { ready: false, reason: `upstream unreachable: ${probe.detail}` };
  }

  /** A connection did not complete its request head within --handshake-timeout: 408, counted once. */
  private headTimedOut(socket: net.Socket): void {
    this.metrics.handshakes.inc({ result: 'head_timeout' });
    this.log.debug({ event: 'handshake_timeout', remote_addr: socket.remoteAddress }, 'request head not complete within --handshake-timeout');
    refuse(socket, 408, 'Request Timeout: the request head did not arrive within --handshake-timeout\n');
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = requestPath(req.url);
    // XEP-0156 discovery and the chat page speak of the gateway's URL as the client sees it.
    const authority = publicAuthority(req.headers, isTrustedPeer(req.socket.remoteAddress, this.trusted));
    if (this.bosh !== null && path === this.config.boshPath) {
      this.bosh.handle(req, res, clientAddress(req.socket.remoteAddress, req.headers, this.trusted), authority.host);
      return;
    }
    const websocketUrl = publicWebSocketUrl(authority, this.config.path, this.boundHost);
    const boshUrl = this.bosh === null ? null : publicBoshUrl(authority, this.config.boshPath, this.boundHost);
    if (serveHostMeta(req, res, path, altConnections(websocketUrl, boshUrl), authority, this.config.allowedOrigins)) return;
    if (this.webClient?.handle(req, res, { path, websocketUrl })) return;
    if (path !== this.config.path) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`Not Found: the XMPP WebSocket endpoint is ${this.config.path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return;
    }
    // Like Prosody's mod_websocket: a browser that opens the URL learns what it is.
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end(
      `xmpp-ws-gateway ${VERSION}\n\nThis is an XMPP over WebSocket endpoint (RFC 7395).\n` +
        'Connect with an XMPP client (Converse.js, Strophe.js, xmpp.js, Stanza) using this URL with ws:// or wss://\n' +
        'and the WebSocket subprotocol "xmpp".\n',
    );
  }

  private reject(socket: Duplex, result: HandshakeResult, status: number, reason: string, ip: string, headers = ''): void {
    this.metrics.handshakes.inc({ result });
    this.log.debug({ event: 'handshake_rejected', result, status, remote_addr: ip }, 'handshake rejected');
    rejectUpgrade(socket, status, reason, headers);
  }

  /**
   * An admission limit refused a handshake: the operator must learn which one (a load test or a NAT
   * hitting --max-connections-per-ip looks like an outage from outside), at warn, but throttled so a
   * flood of refusals cannot flood the log (see ./util/log-throttle.ts).
   */
  private refusedByLimit(limit: AdmissionLimit, status: number, ip: string): void {
    const line = this.refusals.hit(`${limit}\u0000${ip}`, limit);
    if (line === null) {
      this.log.debug({ event: 'handshake_rejected', limit, status, remote_addr: ip }, `handshake refused by --${limit}`);
      return;
    }
    const value = limit === 'max-connections' ? this.config.maxConnections
      : limit === 'max-connections-per-ip' ? this.config.maxConnectionsPerIp
        : limit === 'max-handshakes-per-ip' ? this.config.maxHandshakesPerIp
          : `${this.config.connectionRatePerIp.count}/${this.config.connectionRatePerIp.windowMs / 1000}s`;
    const from = line.overflow ? 'a client (too many refused addresses to name each)' : ip;
    const held = line.suppressed > 0 ? `; ${line.suppressed} more refused since the last such line` : '';
    this.log.warn(
      { event: 'handshake_rejected', limit, limit_value: value, status, remote_addr: line.overflow ? undefined : ip, suppressed: line.suppressed },
      `handshake from ${from} refused with ${status} by --${limit} (${value})${held}; further refusals for this address and limit are logged at most once per ${REFUSAL_LOG_WINDOW_MS / 1000} s`,
    );
  }

  /** Counts a refused Origin and says, once a minute per Origin, what was compared and what would allow it. */
  private originRefused(refusal: NonNullable<Extract<HandshakeVerdict, { ok: false }>['origin']>, ip: string): void {
    this.metrics.originRefusals.inc({ reason: refusal.reason });
    const line = this.originWarnings.hit(refusal.origin, 'origin');
    if (line === null) return;
    const held = line.suppressed > 0 ? `; ${line.suppressed} more refused since the last such line` : '';
    this.log.warn(
      { event: 'origin_refused', origin: refusal.origin, reason: refusal.reason, compared_host: refusal.comparedHost, allow_with: refusal.allowWith, remote_addr: ip, suppressed: line.suppressed },
      `refused Origin ${refusal.origin}` + (refusal.comparedHost === null ? '' : ` (not host ${refusal.comparedHost})`) + `; to allow it: ${refusal.allowWith}${held} (logged once a minute per Origin)`,
    );
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError);
    const ip = clientAddress(req.socket.remoteAddress, req.headers, this.trusted);
    if (this.draining !== null) {
      this.reject(socket, 'draining', 503, 'Service Unavailable: the gateway is shutting down\n', ip, 'Retry-After: 1\r\n');
      return;
    }
    // The host the client used is compared only with an Origin (browsers send one); other clients
    // skip reading the forwarding headers.
    const host = req.headers.origin === undefined ? '' : publicAuthority(req.headers, isTrustedPeer(req.socket.remoteAddress, this.trusted)).host;
    const verdict = checkUpgrade(req, this.config.path, this.config.allowedOrigins, host);
    if (!verdict.ok) {
      if (verdict.origin !== undefined) this.originRefused(verdict.origin, ip);
      this.reject(socket, verdict.result, verdict.status, verdict.reason, ip);
      return;
    }
    const admitted = this.admission.admit(ip);
    if (admitted !== 'ok') {
      const r = ADMISSION_REJECTS[admitted];
      this.metrics.handshakes.inc({ result: r.result });
      this.refusedByLimit(r.limit, r.status, ip);
      rejectUpgrade(socket, r.status, r.reason, r.headers);
      return;
    }
    // From here the admission slot belongs to this connection, whatever happens to the handshake.
    const release = this.releaser(ip);
    socket.on('close', release); // release() is idempotent: no once() wrapper per connection
    this.wss.handleUpgrade(req, socket, head, this.upgraded(socket, ip, req.socket.remotePort, release));
  }

  /**
   * The handshake's completion callback, built apart from onUpgrade: closures made in one function
   * share its context, so a callback made there would keep the upgrade request (headers and all)
   * alive as long as the socket's error listener, i.e. the whole session.
   */
  private upgraded(socket: Duplex, ip: string, port: number | undefined, release: () => void): (ws: WebSocket) => void {
    return (ws) => {
      this.metrics.handshakes.inc({ result: 'accepted' });
      this.onWebSocket(ws, socket, ip, port, release);
    };
  }

  /**
   * Frees one admission slot, once. Built apart from onUpgrade so the closure holds only the address,
   * not the upgrade request (which would otherwise live as long as the session).
   */
  private releaser(ip: string): () => void {
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.admission.release(ip);
      }
    };
  }

  /**
   * A BOSH session's XMPP side: the same session core as a WebSocket's, with the BOSH transport as
   * its client side. Admission was granted by the BOSH endpoint.
   */
  private startBoshCore(transport: ClientTransport, ip: string, sid: string): Session {
    return this.startSession(transport, ip, undefined, this.releaser(ip), { sid });
  }

  private onWebSocket(ws: WebSocket, socket: Duplex, ip: string, port: number | undefined, release: () => void): void {
    const transport = new WebSocketTransport({ ws, socket, messages: this.messages, framing: this.framing, metrics: this.metrics, limits: this.limits });
    this.startSession(transport, ip, port, release);
  }

  /**
   * Starts a session over any client transport (WebSocket here; BOSH beside it): the gateway's
   * dialer, metrics and logger, counted in the sweep, the drain and the `connections` gauge.
   * `release` frees the admission slot once both sides are closed.
   */
  startSession(transport: ClientTransport, clientAddress: string, clientPort: number | undefined, release: () => void, bindings: object = {}): Session {
    // A random per-process prefix and a counter: unique across workers, replicas and restarts when
    // logs are merged, without a random draw per connection.
    const connId = `${CONN_ID_PREFIX}${(++connCounter).toString(36)}`;
    const session = new Session({
      config: this.config,
      log: () => this.log.child({ conn_id: connId, remote_addr: clientAddress, ...bindings }),
      levels: { trace: this.log.isLevelEnabled('trace'), debug: this.log.isLevelEnabled('debug'), info: this.log.isLevelEnabled('info') },
      metrics: this.metrics,
      limits: this.limits,
      transport,
      dialer: this.dialer,
      clientAddress,
      clientPort,
      onClosed: (s) => {
        release();
        this.sessions.delete(s);
        if (this.sessions.size === 0) for (const cb of this.idle.splice(0)) cb();
      },
    });
    this.sessions.add(session);
    return session;
  }

  /** Resolves when no session is left, or after `ms` (then resolves false). */
  private whenIdle(ms: number): Promise<boolean> {
    if (this.sessions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.idle.indexOf(done);
        if (i >= 0) this.idle.splice(i, 1);
        resolve(false);
      }, ms);
      this.idle.push(done);
    });
  }

  /**
   * Graceful drain: readiness fails at once and the listener stops accepting; sessions may go on for
   * `graceMs`; then the rest get `system-shutdown` (or `<close see-other-uri>` with --redirect-uri)
   * and a bounded time to close, after which stragglers are destroyed.
   */
  drain(graceMs = this.config.drainTimeoutMs, forceAfterMs = 3000): Promise<void> {
    if (this.draining !== null) return this.draining;
    this.draining = (async () => {
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      this.log.info({ event: 'draining', sessions: this.sessions.size, grace_s: graceMs / 1000 }, 'draining: no new sessions');
      this.bosh?.drain();
      if (!(await this.whenIdle(graceMs))) {
        this.log.info({ event: 'drain_deadline', sessions: this.sessions.size }, 'drain deadline: ending remaining sessions');
        for (const session of this.sessions) session.shutdown();
        if (!(await this.whenIdle(forceAfterMs))) {
          this.log.warn({ event: 'shutdown_forced', sessions: this.sessions.size }, 'forcing remaining connections closed');
          for (const session of this.sessions) session.destroy();
        }
      }
      this.bosh?.destroy();
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.connectPacer?.close();
      this.server.closeAllConnections();
      await serverClosed;
      this.wss.close();
    })();
    return this.draining;
  }

  /** Immediate stop (tests, embedding): drain with no grace period. */
  close(forceAfterMs = 3000): Promise<void> {
    return this.drain(0, forceAfterMs);
  }
}
