/**
 * A TCP port on 127.0.0.1 where connecting hangs: a listener with a backlog of 0 that never accepts,
 * its queue filled by two idle connections, so the kernel drops further SYNs. This is how a slow or
 * filtered XMPP server looks to the gateway; no traffic leaves the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

const SCRIPT = `
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`;

export interface Blackhole {
  readonly port: number;
  close(): void;
}

export async function startBlackhole(): Promise<Blackhole> {
  const child: ChildProcess = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      child.stdin!.end();
      child.kill();
    },
  };
}
