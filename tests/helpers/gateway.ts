/** Starts the real gateway in this process on 127.0.0.1:0 with a silent (or captured) logger. */
import { createLogger } from '../../src/logger';
import { Gateway } from '../../src/gateway';
import { defaultConfig, type Config } from '../../src/config';

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly port: number;
  readonly logs: Array<Record<string, unknown>>;
  readonly rawLogs: string[];
  close(): Promise<void>;
}

export async function startGateway(overrides: Partial<Config> = {}): Promise<RunningGateway> {
  // Tests open many sessions from 127.0.0.1 and push megabytes through one session: the per-IP and
  // byte-rate limits are off unless a test is about them.
  const config = defaultConfig({
    listen: { host: '127.0.0.1', port: 0 },
    maxConnectionsPerIp: 0,
    connectionRatePerIp: { count: 0, windowMs: 1000 },
    maxBytesPerSecond: 0,
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
  const gateway = new Gateway({ config, log });
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
