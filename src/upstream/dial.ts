/**
 * The real Dialer (./dialer.ts): route → resolve → connect → PROXY header → STARTTLS or direct TLS
 * → a socket ready for the client's stream header. Each target and address is tried in order, each
 * attempt bounded by --connect-timeout as a whole (RFC 6120 §3.2.1: on failure, the next target).
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { FAILURES, type FailureCode } from '../xmpp/stream-error';
import { STREAM_FOOTER } from '../xmpp/stream';
import type { DialHandle, DialOutcome, DialRequest, DialResult, Dialer } from './dialer';
import type { DnsResolver } from './dns';
import { specialPurpose } from './addresses';
import { proxyHeader } from './proxy-protocol';
import type { ConnectPacer } from './connect-pacer';
import { negotiateStartTls } from './starttls';
import { startTls, type TlsPolicy } from './tls';
import { dnsTargets, domainAllowed, fixedTarget, mapLookup, mapTarget, normalizeDomain, type HopTls, type Target } from './route';

export interface DialerDeps {
  readonly config: Config;
  readonly resolver: DnsResolver;
  readonly tls: TlsPolicy;
  readonly log: Logger;
  /** Called once per session whose server certificate was not verified (--upstream-tls-verify off). */
  readonly onUnverified?: () => void;
  readonly random?: () => number;
  /** --upstream-connect-rate: each TCP connect waits its turn; the wait counts against --connect-timeout. */
  readonly pacer?: ConnectPacer;
}

type Failed = Extract<DialOutcome, { ok: false }>;
type Attempt = DialOutcome | { readonly ok: 'plain-retry' };

/** How far a failure got: the furthest one is what the client is told (a TLS problem beats a refused port). */
const RANK: Partial<Record<FailureCode, number>> = {
  HOST_UNKNOWN: 0,
  UPSTREAM_DNS_FAILED: 1,
  UPSTREAM_ADDRESS_REFUSED: 2,
  UPSTREAM_CONNECT_FAILED: 3,
  UPSTREAM_NEGOTIATION_CLOSED: 4,
  UPSTREAM_NEGOTIATION_FAILED: 4,
  UPSTREAM_STARTTLS_MISSING: 4,
  UPSTREAM_TLS_FAILED: 5,
};

const ignore = (): void => undefined;
/** How long a connection we leave with `</stream:stream>` may take to close before it is destroyed. */
const FOOTER_GRACE_MS = 2000;

const fail = (code: FailureCode, result: Exclude<DialResult, 'ok'>, message: string): Failed => ({ ok: false, code, result, message });

/**
 * `auto` on a fixed upstream that offered no STARTTLS: remembered per host:port for this long, so
 * a plaintext sidecar costs one probe connection per interval, not one extra connection per session.
 * (Only the opportunistic mode uses it: a required STARTTLS is never skipped.)
 */
export const PLAINTEXT_MEMORY_MS = 60_000;

/** Bound on that memory (a fixed upstream has a handful of addresses; this only guards against surprises). */
const PLAINTEXT_MEMORY_ENTRIES = 1024;

/** What fixed and map routing decide from the configuration alone: the same for every session, built once. */
interface StaticRoutes {
  /** The --upstream target when routing is fixed. */
  readonly fixed: Target | null;
  /** Map routing: the domains served (--allowed-domains, else the map's own). */
  readonly mapDomains: readonly string[];
}

export function createDialer(deps: DialerDeps): Dialer {
  const plaintext = new Map<string, number>();
  const { config } = deps;
  const routes: StaticRoutes = {
    fixed: config.route === 'fixed' ? fixedTarget(config.upstream, config.upstreamTls) : null,
    mapDomains: config.allowedDomains.length > 0 ? config.allowedDomains : config.upstreamMap.map((e) => e.domain),
  };
  return (request, done) => {
    const dial = new Dial(deps, plaintext, routes, request, done);
    void dial.run();
    return dial;
  };
}

class Dial implements DialHandle {
  private cancelled = false;
  private finished = false;
  /** Undoes whatever is in flight: destroys the socket, clears the timer. */
  private abortCurrent: (() => void) | null = null;
  private readonly domain: string | null;

  constructor(
    private readonly deps: DialerDeps,
    /** host:port → until when it is known not to offer STARTTLS (shared by all dials). */
    private readonly plaintext: Map<string, number>,
    private readonly routes: StaticRoutes,
    private readonly request: DialRequest,
    private readonly done: (outcome: DialOutcome) => void,
  ) {
    this.domain = normalizeDomain(request.domain);
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.abortCurrent?.();
    this.abortCurrent = null;
  }

  private finish(outcome: DialOutcome): void {
    if (this.cancelled || this.finished) {
      if (outcome.ok) outcome.socket.destroy();
      return;
    }
    this.finished = true;
    this.done(outcome);
    // The caller has its own error listener now (see the guard in attempt()).
    if (outcome.ok) outcome.socket.removeListener('error', ignore);
  }

  async run(): Promise<void> {
    try {
      // Only DNS routing has to wait for anything before the first connect: a fixed or mapped
      // upstream with a literal address (the sidecar case) goes straight to connect, without the
      // promise round trips (they showed in the setup profile, bench/RESULTS.md).
      const targets = this.deps.config.route === 'dns' ? await this.dnsRouteTargets() : this.staticTargets();
      if (this.cancelled) return;
      if (!Array.isArray(targets)) return this.finish(targets);
      let best: Failed | null = null;
      const note = (f: Failed): void => {
        this.deps.log.debug({ event: 'upstream_attempt_failed', domain: this.domain, reason: FAILURES[f.code].event, detail: f.message }, 'upstream attempt failed');
        if (best === null || (RANK[f.code] ?? 0) > (RANK[best.code] ?? 0)) best = f;
      };
      for (const target of targets) {
        const addresses = !target.checkAddresses && net.isIP(target.host) !== 0 ? [target.host] : await this.addressesOf(target);
        if (this.cancelled) return;
        if (!Array.isArray(addresses)) {
          note(addresses);
          continue;
        }
        for (const address of addresses) {
          const key = `${address}:${target.port}`;
          const knownPlain = target.tls === 'opportunistic' && (this.plaintext.get(key) ?? 0) > Date.now();
          let outcome = await this.attempt(target, address, knownPlain ? 'none' : target.tls);
          if (this.cancelled) {
            if (outcome.ok === true) outcome.socket.destroy();
            return;
          }
          // auto on a fixed upstream: no STARTTLS offered, so a fresh plaintext connection carries the client's stream.
          if (outcome.ok === 'plain-retry') {
            if (this.plaintext.size >= PLAINTEXT_MEMORY_ENTRIES) this.plaintext.clear();
            this.plaintext.set(key, Date.now() + PLAINTEXT_MEMORY_MS);
            outcome = await this.attempt(target, address, 'none');
          }
          if (this.cancelled) {
            if (outcome.ok === true) outcome.socket.destroy();
            return;
          }
          if (outcome.ok === true) return this.finish(outcome);
          if (outcome.ok === false) note(outcome);
        }
      }
      this.finish(best ?? fail('UPSTREAM_CONNECT_FAILED', 'error', 'no server to try'));
    } catch (err) {
      this.finish(fail('UPSTREAM_CONNECT_FAILED', 'error', `dialing failed: ${(err as Error).message}`));
    }
  }

  /** Fixed and map routing: the target for this client's domain, or the failure that ends the session. */
  private staticTargets(): Target[] | Failed {
    const { config } = this.deps;
    const { domain } = this;
    const { fixed, mapDomains } = this.routes;
    if (fixed !== null) {
      if (fixed.tls !== 'none' && domain === null) return this.noDomain();
      return [fixed];
    }
    if (domain === null) return this.noDomain();
    const entry = domainAllowed(domain, mapDomains) ? mapLookup(domain, config.upstreamMap) : null;
    if (entry === null) return fail('HOST_UNKNOWN', 'refused', `${domain} is not served by this gateway (not in --upstream-map/--allowed-domains)`);
    return [mapTarget(entry, config.upstreamTls)];
  }

  /** DNS routing: the ordered SRV targets for this client's domain (XEP-0368), or the failure that ends the session. */
  private async dnsRouteTargets(): Promise<Target[] | Failed> {
    const { config } = this.deps;
    const { domain } = this;
    if (domain === null) return this.noDomain();
    if (!domainAllowed(domain, config.allowedDomains)) return fail('HOST_UNKNOWN', 'refused', `${domain} is not served by this gateway (not in --allowed-domains)`);
    const [xmpps, xmpp] = await Promise.all([this.deps.resolver.srv(`_xmpps-client._tcp.${domain}`), this.deps.resolver.srv(`_xmpp-client._tcp.${domain}`)]);
    // A timeout is not "no record": falling back to domain:5222 then would hide a broken resolver.
    for (const l of [xmpps, xmpp]) if (!l.ok && (l.reason === 'timeout' || l.reason === 'error')) return fail('UPSTREAM_DNS_FAILED', l.reason === 'timeout' ? 'timeout' : 'error', l.message);
    const targets = dnsTargets(domain, { xmpps: xmpps.ok ? xmpps.records : null, xmpp: xmpp.ok ? xmpp.records : null }, config.upstreamTls, !config.upstreamAllowPrivate, this.deps.random);
    if (targets.length === 0) return fail('UPSTREAM_DNS_FAILED', 'error', `${domain} publishes no _xmpps-client._tcp SRV record (needed with --upstream-tls direct)`);
    return targets;
  }

  private noDomain(): Failed {
    return fail('HOST_UNKNOWN', 'refused', `the <open/> names no valid domain in 'to' (RFC 7395 §3.4), needed for ${this.deps.config.route === 'fixed' ? 'TLS to the server' : 'routing'}`);
  }

  private async addressesOf(target: Target): Promise<string[] | Failed> {
    const lookup = await this.deps.resolver.addresses(target.host);
    if (!lookup.ok) return fail('UPSTREAM_DNS_FAILED', lookup.reason === 'timeout' ? 'timeout' : 'error', `${target.host} (${target.via}): ${lookup.message}`);
    if (!target.checkAddresses) return [...lookup.records];
    const usable = lookup.records.filter((a) => specialPurpose(a) === null);
    if (usable.length === 0) {
      const why = lookup.records.map((a) => `${a} (${specialPurpose(a)})`).join(', ');
      this.deps.log.warn({ event: 'upstream_address_refused', domain: this.domain, target: `${target.host}:${target.port}`, addresses: lookup.records }, `refused: ${target.host} resolves only to special-purpose addresses`);
      return fail('UPSTREAM_ADDRESS_REFUSED', 'refused', `${target.host} (${target.via}) resolves only to special-purpose addresses: ${why}`);
    }
    return usable;
  }

  /** One connection to one address, with everything up to "ready for the client's header". */
  private attempt(target: Target, address: string, tlsMode: HopTls): Promise<Attempt> {
    const { config } = this.deps;
    const where = `${target.host}:${target.port}${target.host === address ? '' : ` (${address})`}`;
    return new Promise<Attempt>((resolve) => {
      const socket = new net.Socket();
      socket.setNoDelay(true);
      let current: net.Socket = socket;
      let started = false;
      let negotiation: { cancel(): void } | null = null;
      let settled = false;
      const settle = (outcome: Attempt): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.abortCurrent = null;
        socket.removeListener('connect', onConnect);
        socket.removeListener('error', onError);
        if (outcome.ok === 'plain-retry') {
          // The footer is on its way; the socket closes by itself, or by force after a bound.
          socket.on('error', ignore);
          const bound = setTimeout(() => socket.destroy(), FOOTER_GRACE_MS);
          socket.once('close', () => clearTimeout(bound));
        } else if (outcome.ok === false) {
          negotiation?.cancel();
          current.destroy();
          socket.destroy();
        } else {
          // Between here and the caller's own listeners lie a few promise continuations: an error
          // emitted meanwhile must not be unhandled. Removed in finish().
          outcome.socket.on('error', ignore);
          // TLS took over the TCP socket's handle: errors surface on the TLS socket, which the session watches.
          if (outcome.socket !== socket) socket.on('error', ignore);
        }
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        const waited = started ? '' : ' (still waiting for its turn under --upstream-connect-rate)';
        settle(fail('UPSTREAM_CONNECT_FAILED', 'timeout', `${where} did not get ready (TCP, TLS and STARTTLS) within ${config.connectTimeoutMs} ms${waited}`));
      }, config.connectTimeoutMs);
      this.abortCurrent = () => {
        settled = true;
        clearTimeout(timer);
        negotiation?.cancel();
        current.destroy();
        socket.destroy();
        resolve(fail('UPSTREAM_CONNECT_FAILED', 'error', 'cancelled'));
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        settle(fail('UPSTREAM_CONNECT_FAILED', err.code === 'ECONNREFUSED' ? 'refused' : 'error', `${err.code ?? 'error'} connecting to ${where}`));
      };
      const ready = (s: net.Socket, secure: boolean): void => settle({ ok: true, socket: s, target: where, secure });
      const tlsUp = (alpn: boolean): void => {
        const domain = this.domain!;
        const tlsSocket = startTls({ socket, domain, policy: this.deps.tls, alpn }, (problem) => {
          if (problem === null) {
            if (!this.deps.tls.verify) {
              this.deps.onUnverified?.();
              this.deps.log.warn({ event: 'upstream_tls_unverified', domain, target: where }, `TLS to ${where} NOT verified (--upstream-tls-verify off): development only`);
            }
            ready(tlsSocket, true);
          } else if (problem.kind === 'verify') {
            this.deps.log.warn({ event: 'upstream_tls_failed', domain, target: where, detail: problem.message }, `TLS to ${where} refused: ${problem.message}`);
            settle(fail('UPSTREAM_TLS_FAILED', 'error', `TLS to ${where} failed: ${problem.message}`));
          } else if (problem.kind === 'closed') {
            settle(fail('UPSTREAM_NEGOTIATION_CLOSED', 'error', `${where} closed the connection during the TLS handshake (${problem.message})`));
          } else {
            settle(fail('UPSTREAM_TLS_FAILED', 'error', `TLS handshake with ${where} failed: ${problem.message}`));
          }
        });
        current = tlsSocket;
      };
      const onConnect = (): void => {
        if (config.upstreamProxyProtocol !== 'off') {
          // Before anything else, TLS ClientHello included (the server reads it off the raw TCP stream).
          socket.write(proxyHeader(config.upstreamProxyProtocol, {
            sourceAddress: this.request.clientAddress,
            sourcePort: this.request.clientPort ?? 0,
            destAddress: socket.remoteAddress ?? address,
            destPort: socket.remotePort ?? target.port,
          }));
        }
        if (tlsMode === 'none') return ready(socket, false);
        if (tlsMode === 'direct') return tlsUp(true);
        // The pre-TLS exchange reads the socket itself; connect errors are its business from here.
        socket.removeListener('error', onError);
        negotiation = negotiateStartTls(socket, this.domain!, config.maxStanzaSize, (outcome) => {
          negotiation = null;
          switch (outcome.kind) {
            case 'proceed':
              socket.on('error', onError);
              return tlsUp(false);
            case 'not-offered':
              if (tlsMode === 'opportunistic') {
                // Leave politely (RFC 6120 §4.4) and dial again: the client's header must open a fresh stream.
                socket.end(STREAM_FOOTER);
                return settle({ ok: 'plain-retry' });
              }
              return settle(fail('UPSTREAM_STARTTLS_MISSING', 'error', `${where} did not offer STARTTLS, which is required${config.route === 'fixed' ? ' (--upstream-tls starttls)' : ''}`));
            case 'closed':
              return settle(fail('UPSTREAM_NEGOTIATION_CLOSED', 'error', `${where}: ${outcome.message}`));
            case 'failed':
              return settle(fail('UPSTREAM_NEGOTIATION_FAILED', 'error', `${where}: ${outcome.message}`));
          }
        });
      };
      socket.on('connect', onConnect); // settle() removes it
      socket.on('error', onError);
      const start = (): boolean => {
        if (settled || socket.destroyed) return false;
        started = true;
        socket.connect({ host: address, port: target.port });
        return true;
      };
      if (this.deps.pacer === undefined) start();
      else this.deps.pacer.schedule(start);
    });
  }
}
