/**
 * Running on every core (node:cluster). The primary forks `--workers` processes that share the
 * WebSocket listener (the primary hands out connections round-robin) and serves the operations
 * listener itself: /metrics aggregates every worker (prom-client's AggregatorRegistry), /readyz asks
 * every worker. A worker that dies is logged, counted and replaced; SIGTERM/SIGINT drains every
 * worker. Workers keep no shared state, which is also why scaling past one machine is just more
 * replicas behind a load balancer.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config';
import { Gateway } from './gateway';
import { Metrics, PrimaryMetrics } from './metrics';
import { OpsServer, type Readiness } from './http/ops-server';
import { BoshPeers, type PeerMessage } from './transports/bosh/peers';

/** Primary ⇄ worker messages (besides prom-client's own). */
type ToWorker = { type: 'xmppgw:drain' } | { type: 'xmppgw:readiness?'; id: number } | Extract<PeerMessage, { type: 'xmppgw:bosh-peers' }>;
type ToPrimary = { type: 'xmppgw:listening' } | { type: 'xmppgw:readiness'; id: number; readiness: Readiness } | Extract<PeerMessage, { type: 'xmppgw:bosh-peer' }>;

function isMessage<T extends { type: string }>(msg: unknown): msg is T {
  return typeof msg === 'object' && msg !== null && typeof (msg as { type?: unknown }).type === 'string' && (msg as { type: string }).type.startsWith('xmppgw:');
}

/** Worker restarts inside this window count towards the crash-loop back-off. */
const RESTART_WINDOW_MS = 60_000;
const READINESS_TIMEOUT_MS = 2000;

export async function runPrimary(config: Config, log: Logger): Promise<void> {
  const primaryMetrics = new PrimaryMetrics(() => Object.keys(cluster.workers ?? {}).length);
  const registry = primaryMetrics.registry;
  const aggregator = new AggregatorRegistry();
  let draining = false;
  const recentRestarts: number[] = [];
  let nextQuery = 0;
  const pending = new Map<number, (r: Readiness) => void>();
  // BOSH across workers (./transports/bosh/peers.ts): each worker's internal port, and the secret
  // that lets a worker believe another's forwarded requests.
  const boshSecret = randomBytes(18).toString('base64url');
  const boshPeers = new Map<number, number>();
  const announcePeers = (): void => {
    const msg: ToWorker = { type: 'xmppgw:bosh-peers', secret: boshSecret, peers: [...boshPeers] };
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(msg);
  };

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (msg: unknown) => {
      if (!isMessage<ToPrimary>(msg)) return;
      if (msg.type === 'xmppgw:readiness') pending.get(msg.id)?.(msg.readiness);
      else if (msg.type === 'xmppgw:bosh-peer') {
        boshPeers.set(worker.id, msg.port);
        announcePeers();
      }
    });
    worker.on('exit', () => {
      if (boshPeers.delete(worker.id)) announcePeers();
    });
    return worker;
  };

  let serving = false;
  cluster.on('exit', (worker, code, signal) => {
    if (draining) return;
    if (!serving) {
      // A worker that dies before every worker listens (port taken, bad permissions) will not do
      // better on a restart: stop with the worker's own error already logged.
      log.fatal({ event: 'worker_start_failed', pid: worker.process.pid, code, signal }, 'a worker failed to start; stopping');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    primaryMetrics.workerRestarts.inc();
    const now = Date.now();
    while (recentRestarts.length > 0 && now - recentRestarts[0]! > RESTART_WINDOW_MS) recentRestarts.shift();
    recentRestarts.push(now);
    // Back off when workers crash in a loop, so a bad deployment does not spin the CPU.
    const delay = Math.min(30_000, recentRestarts.length > 3 ? 1000 * 2 ** (recentRestarts.length - 3) : 0);
    log.error({ event: 'worker_died', worker: worker.id, worker_pid: worker.process.pid, code, signal, restart_in_ms: delay }, `worker ${worker.process.pid} died (${signal ?? code}); replacing it`);
    setTimeout(() => {
      if (!draining) fork();
    }, delay).unref();
  });

  const askWorker = (worker: Worker): Promise<Readiness> =>
    new Promise((resolve) => {
      const id = ++nextQuery;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({ ready: false, reason: `worker ${worker.process.pid} did not answer` });
      }, READINESS_TIMEOUT_MS);
      pending.set(id, (r) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(r);
      });
      worker.send({ type: 'xmppgw:readiness?', id } satisfies ToWorker);
    });

  const ops = new OpsServer({
    metrics: async () => {
      const [own, workers] = await Promise.all([registry.metrics(), aggregator.clusterMetrics()]);
      return { contentType: registry.contentType, body: own + workers };
    },
    readiness: async () => {
      if (draining) return { ready: false, reason: 'draining' };
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (workers.length < config.workers) return { ready: false, reason: `${workers.length} of ${config.workers} workers running` };
      const answers = await Promise.all(workers.map(askWorker));
      const notReady = answers.find((a) => !a.ready);
      return notReady ?? { ready: true, reason: `ready (${workers.length} workers)` };
    },
  });

  const listening = new Promise<void>((resolve) => {
    let count = 0;
    cluster.on('message', (_worker, msg: unknown) => {
      if (isMessage<ToPrimary>(msg) && msg.type === 'xmppgw:listening' && ++count === config.workers) resolve();
    });
  });
  // The operations listener first: if its port is taken, fail before any worker exists.
  if (config.metricsListen !== null) {
    const at = await ops.listen(config.metricsListen);
    log.info({ event: 'ops_listening', address: at.address, port: at.port }, `metrics and health on ${at.address}:${at.port}`);
  }
  for (let i = 0; i < config.workers; i++) fork();
  await listening;
  serving = true;
  log.info({ event: 'cluster_ready', workers: config.workers }, `${config.workers} workers serving`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    draining = true;
    log.info({ event: 'stopping', signal }, `received ${signal}: draining ${Object.keys(cluster.workers ?? {}).length} workers`);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exited = Promise.all(workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve())))));
    for (const w of workers) w.send({ type: 'xmppgw:drain' } satisfies ToWorker);
    // Workers exit on their own within drain + force time; a stuck one is killed after that.
    const deadline = setTimeout(() => {
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, config.drainTimeoutMs + 5000);
    void exited.then(async () => {
      clearTimeout(deadline);
      await ops.close();
      log.info({ event: 'stopped' }, 'stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export async function runWorker(config: Config, log: Logger): Promise<void> {
  const metrics = new Metrics({ defaultMetrics: true });
  // The primary's AggregatorRegistry asks each worker for this registry over IPC. Constructing one
  // here is what installs prom-client's worker-side listener (prom-client 15 lib/cluster.js
  // addListeners); setRegistries alone leaves the primary waiting until its 5 s timeout.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries(metrics.registry);
  const workerLog = log.child({ worker: cluster.worker?.id });
  const peers = config.bosh && cluster.worker !== undefined ? new BoshPeers(cluster.worker.id) : null;
  const gateway = new Gateway({ config, log: workerLog, metrics, boshRouter: peers ?? undefined });
  if (peers !== null) {
    // The internal port first, so other workers can reach this one before it takes any session.
    process.on('message', (msg: unknown) => {
      if (isMessage<ToWorker>(msg) && msg.type === 'xmppgw:bosh-peers') peers.update(msg);
    });
    peers.onForwardError = (err) => workerLog.warn({ event: 'bosh_forward_failed', err: err?.message }, 'a BOSH request could not be forwarded to the worker holding its session');
    const port = await peers.listen((req, res, ip, host) => gateway.bosh?.handle(req, res, ip, host, true));
    process.send?.({ type: 'xmppgw:bosh-peer', port } satisfies ToPrimary);
    workerLog.debug({ event: 'bosh_peer_listening', port }, `BOSH peer listener on 127.0.0.1:${port}`);
  }
  await gateway.listen();
  const drainAndExit = (): void => {
    void gateway.drain().then(() => {
      peers?.close();
      process.exit(0);
    });
  };
  process.on('message', (msg: unknown) => {
    if (!isMessage<ToWorker>(msg)) return;
    if (msg.type === 'xmppgw:drain') drainAndExit();
    else if (msg.type === 'xmppgw:readiness?') {
      void gateway.readiness().then((readiness) => process.send?.({ type: 'xmppgw:readiness', id: msg.id, readiness } satisfies ToPrimary));
    }
  });
  // Ctrl-C reaches the whole process group: drain here too (idempotent with the primary's request).
  process.on('SIGTERM', drainAndExit);
  process.on('SIGINT', drainAndExit);
  process.send?.({ type: 'xmppgw:listening' } satisfies ToPrimary);
}

export interface SingleProcess {
  readonly gateway: Gateway;
  readonly address: AddressInfo;
  /** The operations listener's address, or null when --metrics-listen is off. */
  readonly opsAddress: AddressInfo | null;
  /** Drains the gateway (--drain-timeout), then closes the operations listener. */
  stop(): Promise<void>;
}

/** One process, no cluster: gateway and operations listener side by side (also used by the demo). */
export async function startSingle(config: Config, log: Logger): Promise<SingleProcess> {
  const gateway = new Gateway({ config, log });
  const address = await gateway.listen();
  const ops = new OpsServer({
    metrics: async () => ({ contentType: gateway.metrics.registry.contentType, body: await gateway.metrics.registry.metrics() }),
    readiness: () => gateway.readiness(),
  });
  let opsAddress: AddressInfo | null = null;
  if (config.metricsListen !== null) {
    try {
      opsAddress = await ops.listen(config.metricsListen);
    } catch (err) {
      await gateway.close();
      throw err;
    }
    log.info({ event: 'ops_listening', address: opsAddress.address, port: opsAddress.port }, `metrics and health on ${opsAddress.address}:${opsAddress.port}`);
  }
  return {
    gateway,
    address,
    opsAddress,
    async stop() {
      await gateway.drain();
      await ops.close();
    },
  };
}

export async function runSingle(config: Config, log: Logger): Promise<void> {
  const single = await startSingle(config, log);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, `received ${signal}: draining ${single.gateway.sessionCount} sessions for up to ${config.drainTimeoutMs / 1000} s`);
    void single.stop().then(() => {
      log.info({ event: 'stopped' }, 'stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export const isWorker = (): boolean => cluster.isWorker;
