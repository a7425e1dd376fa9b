/** Starts the real gateway in this process on 127.0.0.1:0 with a silent (or captured) logger. */
import pino from 'pino';
import { Gateway } from '../../src/gateway';
import { defaultConfig, type Config } from '../../src/config';

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly port: number;
  readonly logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startGateway(overrides: Partial<Config> = {}): Promise<RunningGateway> {
  const config = defaultConfig({ listen: { host: '127.0.0.1', port: 0 }, ...overrides });
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const gateway = new Gateway({ config, log });
  const address = await gateway.listen();
  return {
    gateway,
    port: address.port,
    url: `ws://127.0.0.1:${address.port}${config.path}`,
    logs,
    close: () => gateway.close(2000),
  };
}
