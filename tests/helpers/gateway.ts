/** Starts the real gateway in this process on 127.0.0.1:0 with a silent (or captured) logger. */
import { createLogger } from '../../src/logger';
import { Gateway } from '../../src/gateway';
import { defaultConfig, type Config } from '../../src/config';
import { startProsody, type ProsodyInstance } from '../../tools/demo/prosody';

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly port: number;
  readonly logs: Array<Record<string, unknown>>;
  readonly rawLogs: string[];
  close(): Promise<void>;
}

/** `clock`: the refusal log windows' clock (GatewayOptions.clock), for tests that move time. */
export async function startGateway(overrides: Partial<Config> = {}, { clock }: { clock?: () => number } = {}): Promise<RunningGateway> {
  // Tests open many sessions from 127.0.0.1 and push megabytes through one session: the per-IP and
  // byte-rate limits are off unless a test is about them.
  const config = defaultConfig({
    listen: { host: '127.0.0.1', port: 0 },
    maxConnectionsPerIp: 0,
    connectionRatePerIp: { count: 0, windowMs: 1000 },
    maxBytesPerSecond: 0,
    // The fake servers and the plaintext Prosody speak no TLS: no STARTTLS probe connection, so the
    // tests that count connections see exactly the session's. Tests about TLS set it themselves.
    upstreamTls: 'none',
    ...overrides,
  });
  const logs: Array<Record<string, unknown>> = [];
  // The product's own logger (same redaction), writing into `logs` and, for tests that read raw lines, `rawLogs`.
  const rawLogs: string[] = [];
  const log = createLogger(config.logLevel === 'trace' ? 'trace' : 'debug', 'json', {
    write: (line: string) => {
      rawLogs.push(line);
      logs.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  const gateway = new Gateway({ config, log, clock });
  const address = await gateway.listen();
  return {
    gateway,
    port: address.port,
    url: `ws://127.0.0.1:${address.port}${config.path}`,
    logs,
    rawLogs,
    close: () => gateway.close(2000),
  };
}

/**
 * A private Prosody with the gateway in front of it, started before the enclosing describe block's
 * tests and stopped after them. Read the fields inside tests (they are set by beforeAll).
 */
export function useProsodyBehindGateway(gatewayOverrides: Partial<Config> = {}): { readonly prosody: ProsodyInstance; readonly gw: RunningGateway } {
  const stack = {} as { prosody: ProsodyInstance; gw: RunningGateway };
  beforeAll(async () => {
    stack.prosody = await startProsody();
    stack.gw = await startGateway({ upstream: { host: '127.0.0.1', port: stack.prosody.c2sPort }, ...gatewayOverrides });
  });
  afterAll(async () => {
    await stack.gw?.close();
    await stack.prosody?.stop();
  });
  return stack;
}
