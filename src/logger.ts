/**
 * The root pino logger: JSON lines on stdout (or human-readable with --log-format pretty), one child
 * per connection (see ./gateway.ts). Credentials never reach it: request headers that carry them are
 * redacted by path, and XML is only logged through ./xmpp/redact.ts.
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config';
import { VERSION } from './version';

export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["sec-websocket-key"]', 'headers.authorization', 'headers.cookie'];

export function createLogger(level: LogLevel, format: 'json' | 'pretty' = 'json', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'xmpp-ws-gateway', version: VERSION, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (format === 'pretty' && destination === undefined) {
    let pretty: (opts: object) => pino.DestinationStream;
    try {
      // Optional dependency: only loaded when asked for.
      pretty = require('pino-pretty') as (opts: object) => pino.DestinationStream;
    } catch {
      throw new Error('--log-format pretty needs the optional package pino-pretty (npm install pino-pretty)');
    }
    return pino(options, pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'service,version,pid' }));
  }
  return pino(options, destination);
}
