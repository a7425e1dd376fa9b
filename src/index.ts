/** Library entry: embed the gateway in another Node program. */
export { Gateway, type GatewayOptions } from './gateway';
export { parseCli, defaultConfig, helpText, ConfigError, type Config, type HostPort } from './config';
export { createLogger } from './logger';
export { FAILURES, type FailureCode } from './xmpp/stream-error';
export { validateSettings } from './config';
export type { Dialer, DialRequest, DialOutcome, DialHandle, DialResult } from './upstream/dialer';
export type { ClientTransport, SessionInput } from './session/transport';
