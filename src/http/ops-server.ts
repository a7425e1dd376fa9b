/**
 * The operations listener, separate from the public WebSocket port so metrics and health are never
 * exposed to browsers: `GET /metrics` (Prometheus text format), `GET /healthz` (the process answers:
 * liveness), `GET /readyz` (it should get new sessions: readiness). Probes get 200 or 503 with a
 * one-line reason, which is what a Kubernetes httpGet probe understands.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config';

export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

export interface OpsHandlers {
  /** Prometheus exposition text and its content type. */
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly readiness: () => Promise<Readiness>;
}

export class OpsServer {
  private readonly server: http.Server;

  constructor(private readonly handlers: OpsHandlers) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`error: ${err.message}\n`);
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('Method Not Allowed\n');
      return;
    }
    switch (path) {
      case '/metrics': {
        const { contentType, body } = await this.handlers.metrics();
        res.writeHead(200, { 'Content-Type': contentType }).end(body);
        return;
      }
      case '/healthz':
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const { ready, reason } = await this.handlers.readiness();
        res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' }).end(`${reason}\n`);
        return;
      }
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found: /metrics, /healthz, /readyz\n');
    }
  }

  async listen(at: HostPort): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(at.port, at.host, () => {
        this.server.removeListener('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
