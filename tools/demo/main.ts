/**
 * `npm run demo`: a private Prosody on 127.0.0.1 with two demo accounts, and the gateway in front
 * of it. Gateway flags are accepted after `--` (e.g. `npm run demo -- --listen 127.0.0.1:5281`);
 * the upstream is always the private Prosody. Ctrl-C stops both and removes the temporary files.
 */
import { ConfigError, parseCli } from '../../src/config';
import { startSingle, type SingleProcess } from '../../src/cluster';
import { createLogger } from '../../src/logger';
import { ProsodyNotInstalledError, startProsody, type ProsodyInstance } from './prosody';

const ACCOUNTS = [
  { username: 'alice', password: 'alice-demo-password' },
  { username: 'bob', password: 'bob-demo-password' },
];

async function demo(): Promise<void> {
  let cli;
  try {
    cli = parseCli(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`demo: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (cli.kind !== 'run') {
    process.stdout.write('Usage: npm run demo [-- gateway options]; see `node bin/xmpp-ws-gateway.js --help`\n');
    return;
  }

  let prosody: ProsodyInstance;
  try {
    prosody = await startProsody({ accounts: ACCOUNTS, sharedRoster: true });
  } catch (err) {
    if (err instanceof ProsodyNotInstalledError) {
      process.stderr.write(`demo: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  // The demo is one process (no cluster) so Ctrl-C can stop Prosody after the gateway has drained.
  // The demo serves the chat page unless told otherwise (--web-client off), logging in to the demo domain.
  const webClientFlag = process.argv.slice(2).some((a) => /^--web-client(=|$)/.test(a));
  const config = {
    ...cli.config,
    workers: 1,
    drainTimeoutMs: 0,
    upstream: { host: '127.0.0.1', port: prosody.c2sPort },
    webClient: webClientFlag ? cli.config.webClient : true,
    webClientDomain: cli.config.webClientDomain === '' ? prosody.domain : cli.config.webClientDomain,
  };
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, config.logFormat);
  let single: SingleProcess;
  try {
    single = await startSingle(config, log);
  } catch (err) {
    await prosody.stop();
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    process.stderr.write(`demo: cannot listen on ${e.address ?? config.listen.host}:${e.port ?? config.listen.port} (${e.code ?? e.message}); pick other ports with: npm run demo -- --listen 127.0.0.1:5281 --metrics-listen 127.0.0.1:9465\n`);
    process.exit(1);
  }
  const address = single.address;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `ws://${host}:${address.port}${config.path}`;
  const [alice, bob] = prosody.accounts;
  process.stdout.write(
    [
      '',
      'xmpp-ws-gateway demo is running.',
      '',
      ...(config.webClient ? [`  Chat page:      http://${host}:${address.port}/   (Converse.js; open it in two tabs and log in as both accounts)`] : []),
      `  WebSocket URL:  ${url}   (subprotocol "xmpp", RFC 7395)`,
      `  XMPP server:    private Prosody on 127.0.0.1:${prosody.c2sPort} (domain "${prosody.domain}", files in ${prosody.dir})`,
      single.opsAddress === null ? '' : `  Metrics:        http://${single.opsAddress.address}:${single.opsAddress.port}/metrics   (health: /healthz, /readyz)`,
      `  Accounts:       ${alice!.jid} / ${alice!.password}`,
      `                  ${bob!.jid} / ${bob!.password}`,
      '',
      '  Try it (another terminal, same checkout):',
      `    node build/tools/demo/try-client.js ${url} ${alice!.jid} ${alice!.password}`,
      '  Or point Converse.js at it: converse.initialize({ websocket_url: "' + url + '", jid: "' + alice!.jid + '" })',
      '',
      '  Ctrl-C stops the gateway and Prosody and removes the temporary files.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nStopping…\n');
    await single.stop();
    await prosody.stop();
    process.stdout.write('Stopped; temporary files removed.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

demo().catch((err: Error) => {
  process.stderr.write(`demo: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
