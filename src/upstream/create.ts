/**
 * Builds the gateway's one Dialer from the configuration: the DNS resolver and its cache, the TLS
 * trust store, the metrics hooks. Start-up errors (an unreadable --upstream-ca) surface here, once.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Metrics } from '../metrics';
import type { ConnectPacer } from './connect-pacer';
import { createDialer } from './dial';
import type { Dialer } from './dialer';
import { DnsResolver, parseHosts, systemDnsServers } from './dns';
import { createTlsPolicy } from './tls';

const HOSTS_FILE = '/etc/hosts';

function readHosts(): Map<string, string[]> {
  try {
    return parseHosts(readFileSync(HOSTS_FILE, 'utf8'));
  } catch {
    return new Map([['localhost', ['127.0.0.1', '::1']]]);
  }
}

export function createUpstreamDialer(config: Config, log: Logger, metrics: Metrics, pacer?: ConnectPacer): Dialer {
  const resolver = new DnsResolver({
    servers: config.dnsServers.length > 0 ? config.dnsServers : systemDnsServers(),
    timeoutMs: config.dnsTimeoutMs,
    maxEntries: config.dnsCacheEntries,
    hosts: readHosts(),
    onLookup: (result) => metrics.dnsLookups.inc({ result }),
  });
  const tls = createTlsPolicy(config.upstreamCa, config.upstreamTlsVerify);
  if (!config.upstreamTlsVerify) {
    log.warn({ event: 'upstream_tls_verify_off' }, '--upstream-tls-verify off: server certificates are NOT checked; for development only');
  }
  return createDialer({ config, resolver, tls, log, pacer, onUnverified: () => metrics.upstreamTlsUnverified.inc() });
}
