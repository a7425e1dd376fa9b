/**
 * Command-line entry: parse the configuration once, then run as one process or as a cluster primary
 * with workers (./cluster.ts). Exit codes: 0 clean stop, 1 runtime failure (e.g. the port is taken),
 * 2 invalid configuration.
 */
import { ConfigError, parseCli } from './config';
import { createLogger } from './logger';
import { isWorker, runPrimary, runSingle, runWorker } from './cluster';
import { VERSION } from './version';
import { descriptorsNeeded, openFileLimit } from './util/fd-limit';

export async function main(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let cli;
  try {
    cli = parseCli(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`xmpp-ws-gateway: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  switch (cli.kind) {
    case 'help':
      process.stdout.write(`${cli.text}\n`);
      return;
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return;
    case 'print-config':
      process.stdout.write(`${cli.text}\n`);
      return;
    case 'run':
      break;
  }
  const { config } = cli;
  let log;
  try {
    log = createLogger(config.logLevel, config.logFormat);
  } catch (err) {
    process.stderr.write(`xmpp-ws-gateway: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const fdLimit = openFileLimit();
  if (!isWorker() && config.maxConnections > 0 && fdLimit !== null && fdLimit < descriptorsNeeded(config.maxConnections)) {
    log.warn(
      { event: 'fd_limit_low', open_file_limit: fdLimit, needed: descriptorsNeeded(config.maxConnections), max_connections: config.maxConnections },
      `the open-file limit (${fdLimit}) is below what --max-connections ${config.maxConnections} needs per worker (2 per session): raise it (ulimit -n, LimitNOFILE=, or the container runtime's nofile) or lower --max-connections`,
    );
  }
  try {
    if (isWorker()) await runWorker(config, log);
    else if (config.workers > 1) await runPrimary(config, log);
    else await runSingle(config, log);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    const where = e.address !== undefined ? `${e.address}:${e.port}` : `${config.listen.host}:${config.listen.port}`;
    log.fatal({ event: 'listen_failed', err: e }, `cannot listen on ${where}: ${e.code ?? e.message}`);
    process.exitCode = 1;
    // A worker that cannot listen takes the process down so the primary sees it and reports it.
    if (isWorker()) process.exit(1);
  }
}
