/** Small network helpers shared by the tests: free loopback ports, waiting for a listener, plain HTTP GETs. */
import * as http from 'node:http';
import * as net from 'node:net';

/** A port on 127.0.0.1 that was free a moment ago (bound to 0, then released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
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
