/**
 * Command-line entry: parse the configuration once, start the gateway, stop it on SIGTERM/SIGINT.
 * Exit codes: 0 clean stop, 1 runtime failure (e.g. the port is taken), 2 invalid configuration.
 */
import { ConfigError, parseCli } from './config';
import { Gateway } from './gateway';
import { createLogger } from './logger';
import { VERSION } from './version';

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
  if (cli.kind === 'help') {
    process.stdout.write(`${cli.text}\n`);
    return;
  }
  if (cli.kind === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const log = createLogger(cli.config.logLevel);
  const gateway = new Gateway({ config: cli.config, log });
  try {
    await gateway.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log.fatal({ event: 'listen_failed', err: e }, `cannot listen on ${cli.config.listen.host}:${cli.config.listen.port}: ${e.code ?? e.message}`);
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, `received ${signal}, closing sessions`);
    gateway.close().then(
      () => {
        log.info({ event: 'stopped' }, 'stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ event: 'stop_failed', err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
