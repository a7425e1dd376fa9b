/**
 * The HTTP listener: upgrades requests on the configured path to RFC 7395 WebSockets and gives each
 * one a Session; answers plain HTTP with a short page or 404; runs the ping sweep; shuts down.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Config } from './config';
import { Session } from './session/session';
import { checkUpgrade, requestPath, selectProtocol } from './ws/handshake';
import { VERSION } from './version';

export interface GatewayOptions {
  readonly config: Config;
  readonly log: Logger;
}

let nextConnId = 0;

/** Writes a plain-text HTTP error on a socket that asked to upgrade, then closes it (ws abortHandshake style). */
function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = Buffer.from(reason, 'utf8');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${body.length}\r\n\r\n${reason}`,
  );
  socket.once('error', () => socket.destroy());
}

export class Gateway {
  readonly config: Config;
  private readonly log: Logger;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Set<Session>();
  private pingTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private readonly idle: Array<() => void> = [];

  constructor({ config, log }: GatewayOptions) {
    this.config = config;
    this.log = log;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Frames above twice the stanza limit are refused by ws before being buffered (close 1009);
      // anything in between reaches the session, which answers with a policy-violation stream error
      // (Prosody's websocket_frame_buffer_limit follows the same rule).
      maxPayload: 2 * config.maxStanzaSize,
      perMessageDeflate: false,
      handleProtocols: selectProtocol,
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err, socket) => {
      this.log.debug({ event: 'http_client_error', err }, 'bad HTTP request');
      rejectUpgrade(socket, 400, 'Bad Request\n');
    });
  }

  /** Starts listening; resolves with the bound address (port 0 → the real port). */
  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.listen.port, this.config.listen.host, () => {
        this.server.removeListener('error', reject);
        resolve();
      });
    });
    this.pingTimer = setInterval(() => {
      for (const session of this.sessions) session.heartbeat();
    }, this.config.pingIntervalMs);
    const address = this.server.address() as AddressInfo;
    this.log.info(
      { event: 'listening', address: address.address, port: address.port, path: this.config.path, upstream: `${this.config.upstream.host}:${this.config.upstream.port}` },
      `listening on ${address.address}:${address.port}${this.config.path}`,
    );
    return address;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = requestPath(req.url);
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

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.closing !== null) {
      rejectUpgrade(socket, 503, 'Service Unavailable: the gateway is shutting down\n');
      return;
    }
    const verdict = checkUpgrade(req, this.config.path);
    if (!verdict.ok) {
      this.log.debug({ event: 'handshake_rejected', result: verdict.result, status: verdict.status }, 'handshake rejected');
      rejectUpgrade(socket, verdict.status, verdict.reason);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => this.onWebSocket(ws, socket, req));
  }

  private onWebSocket(ws: WebSocket, socket: Duplex, req: http.IncomingMessage): void {
    const connId = (++nextConnId).toString(36);
    const log = this.log.child({ conn_id: connId, remote_addr: req.socket.remoteAddress });
    const session = new Session({
      config: this.config,
      log,
      ws,
      socket,
      onClosed: (s) => {
        this.sessions.delete(s);
        if (this.sessions.size === 0) for (const cb of this.idle.splice(0)) cb();
      },
    });
    this.sessions.add(session);
  }

  /**
   * Stops accepting, ends every session with `system-shutdown`, and resolves when all sockets are closed
   * (bounded by `forceAfterMs`, after which stragglers are destroyed).
   */
  close(forceAfterMs = 5000): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      if (this.pingTimer) clearInterval(this.pingTimer);
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const session of this.sessions) session.shutdown();
      if (this.sessions.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.log.warn({ event: 'shutdown_forced', sessions: this.sessions.size }, 'forcing remaining connections closed');
            for (const session of this.sessions) session.destroy();
            resolve();
          }, forceAfterMs);
          this.idle.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      this.server.closeAllConnections();
      await serverClosed;
      this.wss.close();
    })();
    return this.closing;
  }
}
