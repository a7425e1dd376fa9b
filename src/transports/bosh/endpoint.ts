/**
 * The BOSH HTTP endpoint (`POST --bosh-path`, XEP-0124 / XEP-0206): CORS, body limits, the `<body/>`
 * reader, and the sid → session registry. Each session's XMPP side is the ordinary session core
 * (started through `startCore`), so limits, metrics, logs and drain are the WebSocket path's.
 *
 * HTTP statuses (documented in the README): 200 for every BOSH answer, terminal conditions included
 * (XEP-0124 §17.1), except the legacy statuses for clients without `ver` (§19.1: 400, 403, 404);
 * requests that are not a BOSH body get 400, a body over --bosh-max-body-size 413 (refused before it
 * is read), a new session while draining 503, over the admission limits 503/429 like a WebSocket
 * handshake; each with a `<body type='terminate'/>` explaining it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../../config';
import type { BoshRequestResult, Metrics } from '../../metrics';
import type { Admission } from '../../http/admission';
import type { TokenizerLimits } from '../../xml/tokens';
import { VERSION } from '../../version';
import { BoshSession, type BoshLimits, type HttpExchange } from './bosh-session';
import { terminateStatus, type BoshCondition } from './conditions';
import { BoshTransport } from './transport';
import { corsFor, preflightHeaders } from './cors';
import { BodyReader, type BoshRequest } from './request';
import { terminateBody } from './response';

/** The session core's handle on one BOSH session's XMPP side. */
export interface CoreHandle {
  /** Ends the session because the gateway stops (system-shutdown). */
  shutdown(): void;
}

/** Cluster routing (./peers.ts): where a sid lives, and forwarding to the worker that holds it. */
export interface BoshRouter {
  /** Prefix of sids created here, naming this worker. */
  readonly sidPrefix: string;
  /** True if the sid was created by another live worker; then `forward` takes the request. */
  isRemote(sid: string): boolean;
  forward(sid: string, req: IncomingMessage, res: ServerResponse, body: Buffer, ip: string, requestHost: string, headers: OutgoingHttpHeaders): void;
}

export interface BoshEndpointOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The data path's XML limits (../../limits.ts): each child of a body is bounded by --max-stanza-size. */
  readonly xml: TokenizerLimits;
  /** Admission for a new session (the WebSocket side's limits); on 'ok' `startCore` owns the slot. */
  readonly admit: (ip: string) => Admission;
  /** Starts the session core for a BOSH session; the core releases the admission slot when it ends. */
  readonly startCore: (transport: BoshTransport, ip: string, sid: string) => CoreHandle;
  readonly isDraining: () => boolean;
  readonly router?: BoshRouter;
}

const XML_HEADERS: OutgoingHttpHeaders = { 'Content-Type': 'text/xml; charset=utf-8', 'Cache-Control': 'no-store' };

class Exchange implements HttpExchange {
  done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: OutgoingHttpHeaders,
  ) {}

  respond(status: number, body: Buffer): void {
    if (this.done) return;
    this.done = true;
    if (this.res.destroyed || this.res.writableEnded) return;
    this.res.writeHead(status, { ...XML_HEADERS, ...this.headers, 'Content-Length': body.length }).end(body);
  }

  onAbort(cb: () => void): void {
    this.res.once('close', () => {
      if (this.done) return;
      this.done = true;
      cb();
    });
  }
}

interface Entry {
  readonly bosh: BoshSession;
  readonly core: CoreHandle;
}

export class BoshEndpoint {
  private readonly sessions = new Map<string, Entry>();
  private readonly reader: BodyReader;
  private readonly limits: BoshLimits;
  private held = 0;

  constructor(private readonly opts: BoshEndpointOptions) {
    const c = opts.config;
    // Each child element is bounded by the stanza limit while the body is scanned.
    this.reader = new BodyReader(opts.xml);
    this.limits = {
      maxWaitS: Math.floor(c.boshMaxWaitMs / 1000),
      maxHold: c.boshMaxHold,
      inactivityS: Math.ceil(c.boshInactivityMs / 1000),
      maxPauseS: Math.floor(c.boshMaxPauseMs / 1000),
      pollingS: 2,
      // XEP-0124 §7.2 `secure`: the gateway's c2s link is plaintext TCP; only a loopback one is private.
      secure: c.upstream.host === '127.0.0.1' || c.upstream.host === '::1' || c.upstream.host === 'localhost',
    };
    opts.metrics.boshSource = () => ({ sessions: this.sessions.size, held: this.held });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private count(result: BoshRequestResult): void {
    this.opts.metrics.boshRequests.inc({ result });
  }

  /**
   * Every request on --bosh-path. `ip` is the client address and `requestHost` the host[:port] it
   * used (both after trusted proxies). `forwarded`: the request came from another worker
   * (./peers.ts), which found its sid is ours; never forward it again.
   */
  handle(req: IncomingMessage, res: ServerResponse, ip: string, requestHost = req.headers.host ?? '', forwarded = false): void {
    const cors = corsFor(req.headers.origin, requestHost, this.opts.config.allowedOrigins);
    if (!cors.ok) {
      this.count('bad_origin');
      this.opts.metrics.originRefusals.inc({ reason: cors.reason });
      this.opts.log.debug({ event: 'bosh_origin_refused', reason: cors.reason, origin: cors.origin.slice(0, 200), remote_addr: ip, allow_with: cors.allowWith }, 'BOSH request from a refused Origin');
      this.plain(res, 403, "Forbidden: this page's Origin may not use this XMPP endpoint (see --allowed-origins)\n");
      return;
    }
    switch (req.method) {
      case 'OPTIONS':
        this.count('preflight');
        res.writeHead(204, preflightHeaders(cors.headers)).end();
        return;
      case 'POST':
        break;
      case 'GET':
      case 'HEAD':
        // Like Prosody's mod_bosh: a browser that opens the URL learns what it is.
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...cors.headers }).end(
          `xmpp-ws-gateway ${VERSION}\n\nThis is an XMPP over BOSH endpoint (XEP-0124, XEP-0206).\nPoint an XMPP client's BOSH URL (Converse.js bosh_service_url, Strophe.js) here.\n`,
        );
        return;
      default:
        this.count('bad_method');
        res.writeHead(405, { Allow: 'POST, OPTIONS, GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8', ...cors.headers }).end('Method Not Allowed\n');
        return;
    }
    const max = this.opts.config.boshMaxBodySize;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > max) {
      this.tooLarge(res, cors.headers, `a ${declared}-byte body`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > max) {
        refused = true;
        chunks.length = 0;
        this.tooLarge(res, cors.headers, 'the body');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) this.onBody(req, res, Buffer.concat(chunks, size), ip, requestHost, cors.headers, forwarded);
    });
    req.on('error', () => undefined);
  }

  /** Refused before buffering: the connection closes so the rest of the body is never read. */
  private tooLarge(res: ServerResponse, headers: OutgoingHttpHeaders, what: string): void {
    this.count('too_large');
    this.opts.log.debug({ event: 'bosh_body_too_large', limit: this.opts.config.boshMaxBodySize }, `BOSH request refused: ${what} exceeds --bosh-max-body-size`);
    const body = terminateBody('policy-violation');
    res.shouldKeepAlive = false;
    res.writeHead(413, { ...XML_HEADERS, ...headers, Connection: 'close', 'Content-Length': body.length }).end(body, () => res.socket?.destroy());
  }

  private plain(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }).end(text);
  }

  private terminate(res: ServerResponse, status: number, condition: BoshCondition, headers: OutgoingHttpHeaders): void {
    const body = terminateBody(condition);
    res.writeHead(status, { ...XML_HEADERS, ...headers, 'Content-Length': body.length }).end(body);
  }

  private onBody(req: IncomingMessage, res: ServerResponse, bytes: Buffer, ip: string, requestHost: string, headers: OutgoingHttpHeaders, forwarded: boolean): void {
    const parsed = this.reader.read(bytes);
    if (!parsed.ok) {
      this.count('bad_request');
      this.opts.log.debug({ event: 'bosh_bad_request', condition: parsed.condition, text: parsed.text, remote_addr: ip }, 'bad BOSH request');
      // Not a BOSH body at all: an HTTP 400 is the one answer every client understands.
      this.terminate(res, parsed.condition === 'policy-violation' ? 413 : 400, parsed.condition, headers);
      return;
    }
    const request = parsed.request;
    if (request.sid === null) {
      this.create(request, res, ip, headers);
      return;
    }
    const entry = this.sessions.get(request.sid);
    if (entry === undefined) {
      const router = this.opts.router;
      if (router !== undefined && !forwarded && router.isRemote(request.sid)) {
        this.count('forwarded');
        router.forward(request.sid, req, res, bytes, ip, requestHost, headers);
        return;
      }
      this.count('item_not_found');
      this.opts.log.debug({ event: 'bosh_unknown_sid', remote_addr: ip }, 'BOSH request for an unknown or expired session');
      // A session we do not know cannot tell us whether its client is legacy: XEP-0124 §17.1's 200.
      this.terminate(res, terminateStatus('item-not-found', false), 'item-not-found', headers);
      return;
    }
    this.count('accepted');
    entry.bosh.onRequest(request, new Exchange(res, headers));
  }

  private create(request: BoshRequest, res: ServerResponse, ip: string, headers: OutgoingHttpHeaders): void {
    if (this.opts.isDraining()) {
      this.count('draining');
      this.terminate(res, 503, 'system-shutdown', { ...headers, 'Retry-After': '1' });
      return;
    }
    const admitted = this.opts.admit(ip);
    if (admitted !== 'ok') {
      this.count(admitted === 'rate_limited' ? 'rate_limited' : 'over_limit');
      this.opts.log.debug({ event: 'bosh_session_refused', result: admitted, remote_addr: ip }, 'BOSH session refused by admission limits');
      const status = admitted === 'over_limit' ? 503 : 429;
      this.terminate(res, status, 'policy-violation', { ...headers, 'Retry-After': admitted === 'over_limit' ? '5' : '10' });
      return;
    }
    this.count('created');
    const sid = (this.opts.router?.sidPrefix ?? '') + randomBytes(15).toString('base64url');
    const transport = new BoshTransport(this.opts.config.boshMaxQueued);
    const core = this.opts.startCore(transport, ip, sid);
    const bosh = new BoshSession(sid, request, new Exchange(res, headers), this.limits, transport, {
      onGone: (s, label, why) => this.onGone(s, label, why, ip),
      onHeldChange: (delta) => {
        this.held += delta;
      },
    });
    transport.bind(bosh);
    this.sessions.set(sid, { bosh, core });
    this.opts.log.debug({ event: 'bosh_session_created', sid, remote_addr: ip, wait: bosh.wait, hold: bosh.hold, legacy: bosh.legacy }, 'BOSH session created');
    bosh.start();
  }

  private onGone(s: BoshSession, label: BoshCondition | 'none' | 'inactivity', why: string, ip: string): void {
    if (this.sessions.get(s.sid)?.bosh !== s) return;
    this.sessions.delete(s.sid);
    this.opts.metrics.boshTerminations.inc({ condition: label });
    this.opts.log.info(
      { event: 'bosh_session_ended', sid: s.sid, remote_addr: ip, condition: label, requests: s.requests, duration_s: (Date.now() - s.createdAt) / 1000 },
      `BOSH session ended (${label}): ${why}`,
    );
  }

  /**
   * Drain: BOSH sessions end at once with system-shutdown (their held requests are answered now).
   * Unlike a WebSocket, a BOSH client needs new HTTP requests to go on, and a draining listener no
   * longer accepts connections, so a grace period would only leave clients hanging.
   */
  drain(): void {
    for (const { core } of this.sessions.values()) core.shutdown();
  }

  /** Forced stop: answer whatever is held and forget every session. */
  destroy(): void {
    for (const { bosh } of [...this.sessions.values()]) bosh.destroy();
  }
}
