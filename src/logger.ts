/** The root pino logger: JSON lines on stdout, one child per connection (see ./gateway.ts). */
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config';
import { VERSION } from './version';

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'xmpp-ws-gateway', version: VERSION },
      // Credentials must never reach logs, whatever the level.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["sec-websocket-key"]'], censor: '[redacted]' },
    },
    destination,
  );
}
