/**
 * The relay benchmark's smoke run (`node bench/run.js --smoke`): every scenario (floor, gateway with
 * one and two workers, gateway in front of Prosody, Prosody's mod_websocket) logs in, echoes and
 * closes without loss; and the reconnect storm's (`node bench/storm.js --smoke`): every drained
 * session follows <close see-other-uri> to a second gateway and logs in again. It asserts nothing
 * about speed (these machines are shared and noisy); it only keeps the benchmarks from rotting. Figures live in bench/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

async function smoke(script: string): Promise<string> {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'bench', script), '--smoke'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${script} --smoke exited ${code}:\n${out.slice(-4000)}`);
  return out;
}

it('bench/run.js --smoke completes every scenario', async () => {
  await smoke('run.js');
}, 180_000);

it('bench/storm.js --smoke: every session drained from one gateway comes back through the other, and through the floor', async () => {
  const out = await smoke('storm.js');
  expect(out).toMatch(/^\| gateway \| 100\/100 \|/m);
  expect(out).toMatch(/^\| floor \| 100\/100 \|/m);
}, 180_000);

it('bench/bosh.js --smoke logs in, idles, echoes and terminates over BOSH and WebSocket without loss', async () => {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'bench', 'bosh.js'), '--smoke'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench/bosh.js smoke exited ${code}:\n${out.slice(-4000)}`);
  expect(out).toMatch(/\| BOSH \(XEP-0206\) \|/);
}, 120_000);
