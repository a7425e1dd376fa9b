/**
 * Ports for the private Prosody and the wait until it really serves them: its c2s port answers
 * with stream features for our domain and its HTTP port serves the WebSocket path.
 */
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const READY_TIMEOUT_MS = 15_000;
const PROBE_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;
export const WEBSOCKET_PATH = '/xmpp-websocket';
/** portmanager's message when a listener cannot bind (Prosody 0.12 core/portmanager.lua). */
const PORT_IN_USE = /Failed to open server port (\d+) on [^,\s]+/;

/** Prosody started but could not bind one of its ports. */
export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(
    readonly port: number,
    logLine: string,
  ) {
    super(logLine);
  }
}

/**
 * Fills in missing ports by binding port 0 and closing. All probe sockets stay open until every
 * port is chosen, so the two ports are distinct; the short window before Prosody binds them is
 * covered by the readiness probe, which checks that *our* Prosody answers.
 */
export async function resolvePorts(c2sPort?: number, httpPort?: number): Promise<[number, number]> {
  const servers: net.Server[] = [];
  const pick = async (): Promise<number> => {
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  };
  try {
    return [c2sPort ?? (await pick()), httpPort ?? (await pick())];
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export async function waitUntilReady(p: {
  domain: string;
  c2sPort: number;
  httpPort: number;
  logFile: string;
  isRunning: () => boolean;
}): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no attempt made';
  for (const probe of [() => probeC2s(p.c2sPort, p.domain), () => probeHttp(p.httpPort)]) {
    for (;;) {
      if (!p.isRunning()) throw new Error('prosody exited during start-up');
      // Prosody logs a port it cannot bind and carries on without it; waiting would only run
      // into the deadline (or, worse, probe whoever holds the port).
      const inUse = PORT_IN_USE.exec(await fsp.readFile(p.logFile, 'utf8').catch(() => ''));
      if (inUse) throw new PortInUseError(Number(inUse[1]), inUse[0]);
      try {
        await probe();
        break;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= deadline) {
        throw new Error(`not ready after ${READY_TIMEOUT_MS} ms: ${lastError}`);
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
    }
  }
}

/**
 * Opens an RFC 6120 stream and waits for `<stream:features`. A bare TCP connect could be
 * answered by whatever else grabbed the port; features for our domain mean our Prosody is up.
 */
export function probeC2s(port: number, domain: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`c2s port ${port}: no stream features`)), PROBE_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('error', (err) => finish(new Error(`c2s port ${port}: ${err.message}`)));
    socket.on('connect', () => {
      socket.write(
        `<?xml version='1.0'?><stream:stream to=${xmlAttr(domain)} version='1.0' ` +
          `xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
      );
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('<stream:error')) finish(new Error(`c2s port ${port}: ${received.slice(0, 300)}`));
      else if (received.includes('<stream:features')) finish();
    });
  });
}

/** mod_websocket answers a plain GET on its path with 200 once the HTTP service is up. */
export function probeHttp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: WEBSOCKET_PATH, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`GET ${WEBSOCKET_PATH} on port ${port}: HTTP ${String(res.statusCode)}`));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${WEBSOCKET_PATH} on port ${port}: timeout`)));
    req.on('error', reject);
  });
}

function xmlAttr(value: string): string {
  return `'${value.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;')}'`;
}
