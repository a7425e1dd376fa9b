/**
 * The operator's view of a gateway bug: a fault injected into one live session (through the
 * test-only seam `gateway[kLiveSessions]`) ends that session as INTERNAL, and a real Prometheus,
 * with the shipped scrape job and alert rules (deploy/prometheus/), scraping the gateway's /metrics,
 * sees the `XmppWsGatewayInternalErrors` alert's expression become true and the alert fire — while
 * the gateway keeps serving the other session.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { kLiveSessions } from '../../src/gateway';
import { OpsServer } from '../../src/http/ops-server';
import { startGateway, type RunningGateway } from '../helpers/gateway';
import { FakeServer, minimalServer } from '../helpers/fake-server';
import { PROM_DIR, startPrometheus, until, type RunningPrometheus } from '../helpers/prometheus';
import { TestClient, openXml } from '../helpers/ws-client';

const ALERT = 'XmppWsGatewayInternalErrors';
const alertRule = (parseYaml(readFileSync(join(PROM_DIR, 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> })
  .groups.flatMap((g) => g.rules)
  .find((r) => r.alert === ALERT)!;

let dir: string;
let server: FakeServer;
let gw: RunningGateway;
let ops: OpsServer;
let prometheus: RunningPrometheus;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'xmppgw-alert-'));
  server = await FakeServer.start(minimalServer());
  gw = await startGateway({ upstream: server.upstream });
  ops = new OpsServer({
    metrics: async () => ({ contentType: gw.gateway.metrics.registry.contentType, body: await gw.gateway.metrics.registry.metrics() }),
    readiness: () => gw.gateway.readiness(),
  });
  const opsAddress = await ops.listen({ host: '127.0.0.1', port: 0 });
  prometheus = await startPrometheus(join(dir, 'prometheus'), [`127.0.0.1:${opsAddress.port}`], { site: 'fault' }, 3);
}, 90_000);

afterAll(async () => {
  await prometheus?.stop();
  await ops?.close();
  await gw?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openSession(): Promise<TestClient> {
  const client = await TestClient.open(gw.url);
  client.send(openXml());
  await client.waitForMatch(/<open /);
  return client;
}

it(`a fault in one session makes ${ALERT} fire; the other session is unaffected`, async () => {
  expect(alertRule).toBeDefined();
  // Healthy first: the alert's expression has no result and the alert is inactive.
  expect((await prometheus.query(alertRule.expr)).data.result).toEqual([]);
  const before = (await prometheus.rules()).find((r) => r.name === ALERT)!;
  expect(before.health).toBe('ok');
  expect(before.state).toBe('inactive');

  const healthy = await openSession();
  const existing = new Set(gw.gateway[kLiveSessions]);
  const faulty = await openSession();
  const session = [...gw.gateway[kLiveSessions]].find((s) => !existing.has(s))!;
  Object.defineProperty(session, 'clientElement', {
    value: () => {
      throw new Error('injected fault');
    },
  });
  faulty.send('<presence xmlns="jabber:client"/>');
  expect((await faulty.closed).code).toBe(1011);

  // The alert's own expression, as shipped, now has a result for this gateway…
  const hit = await until(`${ALERT}'s expression to be true (${prometheus.output()})`, async () => {
    const r = await prometheus.query(alertRule.expr);
    return r.data.result.length > 0 ? r.data.result : undefined;
  }, 30_000);
  expect(hit).toHaveLength(1);
  expect(hit[0]!.metric.job).toBe('xmpp-ws-gateway');
  expect(Number(hit[0]!.value[1])).toBeGreaterThan(0);
  // …and the rule fires.
  await until(`${ALERT} to fire`, async () => ((await prometheus.rules()).find((r) => r.name === ALERT)?.state === 'firing' ? true : undefined), 30_000);

  // The other session never noticed.
  healthy.send('<message xmlns="jabber:client" to="user@localhost/r"><body>after the fault</body></message>');
  await healthy.waitForMatch(/after the fault/);
  expect(gw.gateway[kLiveSessions].size).toBe(1);
}, 90_000);
