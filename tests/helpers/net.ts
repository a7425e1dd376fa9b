/** Small network helpers shared by the tests: free loopback ports, waiting for a listener, plain HTTP GETs. */
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';

/** A port on 127.0.0.1 that was free a moment ago (see freePorts). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** The kernel's ephemeral range (what a bind to port 0 or an outgoing connection gets). */
function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return { low, high };
  } catch {
    // not Linux: the IANA range
  }
  return { low: 49152, high: 65535 };
}

const RESERVED_FLOOR = 10_000;

/**
 * `n` different ports on 127.0.0.1 that were free a moment ago, for a process the test starts later.
 *
 * Chosen at random below the kernel's ephemeral range and checked by binding, not by binding port 0:
 * the kernel hands a port it just released out again to the next bind to port 0, and every listener
 * that binds port 0 (the gateways in tests, the fake servers) draws from the ephemeral range. A
 * port obtained by binding 0 and releasing it was twice given to two listeners at once (EADDRINUSE
 * in CI). All `n` are held until each is known, so they differ from each other.
 */
export async function freePorts(n: number): Promise<number[]> {
  const { low } = ephemeralRange();
  const held: net.Server[] = [];
  try {
    for (let tries = 0; held.length < n; tries++) {
      if (tries > 200) throw new Error(`no free port found below the ephemeral range (${RESERVED_FLOOR}–${low - 1}) in 200 tries`);
      // Below the ephemeral range when there is room for it; otherwise anywhere a bind to 0 would go.
      const port = low - RESERVED_FLOOR > 1000 ? RESERVED_FLOOR + Math.floor(Math.random() * (low - RESERVED_FLOOR)) : 0;
      const server = net.createServer();
      const bound = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (bound) held.push(server);
    }
    return held.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/**
 * Resolves once 127.0.0.1:`port` accepts a TCP connection (a server started as a child process is
 * listening). Throws, with `explain()` (its log, say), at `deadline` (epoch ms; default in 10 s) or as
 * soon as `exited()` says the server is gone.
 */
export async function waitForPort(port: number, explain: () => string, options: { deadline?: number; exited?: () => boolean } = {}): Promise<void> {
  const deadline = options.deadline ?? Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline || options.exited?.() === true) throw new Error(`did not start listening on ${port}:\n${explain()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET `url`, bounded by `timeoutMs`; resolves with the status and the whole body. */
export function httpGet(url: string, timeoutMs = 8000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
