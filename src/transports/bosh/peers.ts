/**
 * BOSH across cluster workers (--workers N): a BOSH session lives in the worker that created it, but
 * every request is a new HTTP request, and the primary hands connections to workers round-robin.
 *
 * The mechanism: the sid names its worker (`<worker id>.<random>`). Each worker also listens on an
 * internal HTTP port on 127.0.0.1 (port 0, so the kernel picks it) and tells the primary; the
 * primary tells every worker the table of ports, with a random secret generated at its start. A
 * worker that receives a request for another worker's sid forwards it as is (Host and Origin
 * kept, the client address in a header) to that worker's internal port, and streams the answer
 * back. Held requests stay held across the hop; if the client goes away, the forwarded request is
 * aborted too, so the owning worker sees the vanished client. The internal listener believes the
 * client-address header only with the secret, and never forwards again.
 *
 * Chosen over passing connection handles through the primary because a BOSH request's body must be
 * read before its sid is known, and HTTP keep-alive connections carry requests of many sessions.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http';
import type { BoshRouter } from './endpoint';
import { terminateBody } from './response';

export const PEER_SECRET_HEADER = 'x-xmppgw-peer';
export const PEER_CLIENT_HEADER = 'x-xmppgw-client-ip';
/** The host[:port] the client used, after trusted proxies (for `same-origin`). */
export const PEER_HOST_HEADER = 'x-xmppgw-request-host';

/** Primary ⇄ worker messages about BOSH peers. */
export type PeerMessage =
  | { readonly type: 'xmppgw:bosh-peer'; readonly port: number }
  | { readonly type: 'xmppgw:bosh-peers'; readonly secret: string; readonly peers: ReadonlyArray<readonly [workerId: number, port: number]> };

/** The worker id a sid names, or null if it names none. */
export function sidWorker(sid: string): number | null {
  const dot = sid.indexOf('.');
  if (dot <= 0 || dot > 8) return null;
  const id = Number.parseInt(sid.slice(0, dot), 36);
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

/** Handles a request that arrived on the internal listener: `ip` and `requestHost` are the original client's. */
export type ForwardedHandler = (req: http.IncomingMessage, res: http.ServerResponse, ip: string, requestHost: string) => void;

export class BoshPeers implements BoshRouter {
  readonly sidPrefix: string;
  private peers = new Map<number, number>();
  private secret: string | null = null;
  private server: http.Server | null = null;
  /** Keep-alive connections between workers, so a forwarded request costs no handshake. */
  private readonly agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });

  /** Told when a forwarded request fails (logged by the worker). */
  onForwardError: ((err: Error | undefined) => void) | null = null;

  constructor(private readonly workerId: number) {
    this.sidPrefix = `${workerId.toString(36)}.`;
  }

  /** Starts the internal listener; resolves with its port (for the primary). */
  async listen(handler: ForwardedHandler): Promise<number> {
    const server = http.createServer((req, res) => {
      const ip = req.headers[PEER_CLIENT_HEADER];
      if (this.secret === null || req.headers[PEER_SECRET_HEADER] !== this.secret || typeof ip !== 'string') {
        res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Forbidden\n');
        return;
      }
      const host = req.headers[PEER_HOST_HEADER];
      handler(req, res, ip, typeof host === 'string' ? host : req.headers.host ?? '');
    });
    // Held requests wait up to --bosh-max-wait on this listener too.
    server.requestTimeout = 0;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // exclusive: in a cluster worker a plain listen() would share one handle through the primary,
      // and the port would again reach any worker.
      server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  /** The primary's table of workers and their internal ports. */
  update(msg: Extract<PeerMessage, { type: 'xmppgw:bosh-peers' }>): void {
    this.secret = msg.secret;
    this.peers = new Map(msg.peers);
  }

  isRemote(sid: string): boolean {
    const id = sidWorker(sid);
    return id !== null && id !== this.workerId && this.peers.has(id);
  }

  forward(sid: string, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, ip: string, requestHost: string, headers: OutgoingHttpHeaders): void {
    const port = this.peers.get(sidWorker(sid)!)!;
    const out = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: req.url,
      agent: this.agent,
      headers: {
        host: req.headers.host ?? '',
        ...(req.headers.origin !== undefined ? { origin: req.headers.origin } : {}),
        'content-type': req.headers['content-type'] ?? 'text/xml; charset=utf-8',
        'content-length': body.length,
        [PEER_SECRET_HEADER]: this.secret!,
        [PEER_CLIENT_HEADER]: ip,
        [PEER_HOST_HEADER]: requestHost,
      },
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    const lost = (err?: Error): void => {
      this.onForwardError?.(err);
      // The worker holding the session is gone (it died): so is the session.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const xml = terminateBody('item-not-found');
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8', ...headers, 'Content-Length': xml.length }).end(xml);
    };
    out.on('error', lost);
    // The client gave up on a held request: abort the hop, so the owning worker sees it vanish.
    res.once('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    out.end(body);
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
    this.agent.destroy();
  }
}
