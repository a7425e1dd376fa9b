/**
 * The relay benchmark's smoke run (`node bench/run.js --smoke`): every scenario (floor, gateway with
 * one and two workers, gateway in front of Prosody, Prosody's mod_websocket) logs in, echoes and
 * closes without loss; and the reconnect storm's (`node bench/storm.js --smoke`): every drained
 * session follows <close see-other-uri> to a second gateway and logs in again. The protocol floor
 * (bench/lib/protocol-floor-relay.js), which the setup analysis leans on, must really frame as
 * RFC 7395 says, and the ablation patches (bench/ablations/) must still apply to this tree. It
 * asserts nothing about speed (these machines are shared and noisy); it only keeps the benchmarks
 * from rotting. Figures live in bench/RESULTS.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FakeServer } from '../helpers/fake-server';
import { TestClient, openXml } from '../helpers/ws-client';

/** Runs one bench script to its end; its output, or an error with the tail of it. */
async function bench(script: string, args: string[] = ['--smoke']): Promise<string> {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'bench', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`bench/${script} ${args.join(' ')} exited ${code}:\n${out.slice(-4000)}`);
  return out;
}
const smoke = (script: string): Promise<string> => bench(script);

it('bench/run.js --smoke completes every scenario', async () => {
  await smoke('run.js');
}, 180_000);

it('bench/storm.js --smoke: every session drained from one gateway comes back through the other, and through the floor', async () => {
  const out = await smoke('storm.js');
  expect(out).toMatch(/^\| gateway \| 100\/100 \|/m);
  expect(out).toMatch(/^\| floor \| 100\/100 \|/m);
}, 180_000);

it('bench/bosh.js --smoke logs in, idles, echoes and terminates over BOSH and WebSocket without loss', async () => {
  const out = await smoke('bosh.js');
  expect(out).toMatch(/\| BOSH \(XEP-0206\) \|/);
}, 120_000);

it('bench/idle-vs-floor.js --protocol-floor logs every session in through the gateway, the protocol floor and the floor', async () => {
  const out = await bench('idle-vs-floor.js', ['50', '1', '--protocol-floor']);
  for (const relay of ['gateway', 'protocol', 'floor']) expect(out).toMatch(new RegExp(`^${relay} \\{"ok":50,"warmFailed":0,`, 'm'));
}, 180_000);

it('the protocol floor sends each server element as its own standalone message, the header as <open/>', async () => {
  // A plain-JS bench module (it loads the gateway's built dist/, which the test script builds first).
  const { startProtocolFloorRelay } = require('../../bench/lib/protocol-floor-relay') as {
    startProtocolFloorRelay(o: { upstreamPort: number }): Promise<{ port: number; close(): Promise<void> }>;
  };
  const server = await FakeServer.start();
  const relay = await startProtocolFloorRelay({ upstreamPort: server.port });
  const client = await TestClient.open(`ws://127.0.0.1:${relay.port}/xmpp-websocket`);
  try {
    client.send(openXml());
    const [open, features] = await client.waitFor(2);
    expect(open).toMatch(/^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing"[^>]* id="s1"/);
    expect(features).toMatch(/^<stream:features xmlns:stream="http:\/\/etherx\.jabber\.org\/streams"[\s>]/);
    expect(features).toMatch(/<\/stream:features>$/);
  } finally {
    client.ws.terminate();
    await relay.close();
    await server.close();
  }
});

it('every ablation patch in bench/ablations/ still applies to this tree', () => {
  const dir = join(__dirname, '..', '..', 'bench', 'ablations');
  const patches = readdirSync(dir).filter((f) => f.endsWith('.patch'));
  expect(patches.sort()).toEqual(['no-admission.patch', 'no-client-parse.patch', 'no-metrics.patch', 'plain-dial.patch']);
  // --check applies nothing; outside a git checkout git apply acts like patch(1), so a tarball works too.
  for (const patch of patches) execFileSync('git', ['apply', '--check', join(dir, patch)], { cwd: join(__dirname, '..', '..'), stdio: 'pipe' });
});
