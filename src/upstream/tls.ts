/**
 * TLS to the XMPP server and the check of its certificate (RFC 6120 §13.7.2, RFC 6125, RFC 7590).
 *
 * The reference identity is the XMPP domain the client asked for (`<open to>`), never the SRV
 * target or the address: RFC 6125 §6.2.1 and RFC 7590 §3.3 — a DNS answer is not trusted to
 * change whose certificate is accepted. The domain also goes in SNI. Trust anchors: the system's
 * roots plus --upstream-ca; one secure context is built at start-up and shared by every session.
 */
import * as tls from 'node:tls';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type * as net from 'node:net';

/** XEP-0368 §3: the ALPN protocol id for direct TLS client-to-server connections. */
export const ALPN_XMPP_CLIENT = 'xmpp-client';

/** Debian/Ubuntu's bundle of the system's trusted roots (update-ca-certificates), when present. */
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface TlsPolicy {
  /** Built on first use (parsing a few hundred roots takes a noticeable moment at start-up). */
  readonly context: tls.SecureContext;
  readonly verify: boolean;
}

export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

/**
 * The shared trust store. An unreadable or empty --upstream-ca is a start-up error; the secure
 * context itself is built on the first TLS dial (a gateway with `--upstream-tls none` never pays for it).
 */
export function createTlsPolicy(caFile: string | null, verify: boolean): TlsPolicy {
  let extra: string | null = null;
  if (caFile !== null) {
    let pem: string;
    try {
      pem = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new TlsConfigError(`cannot read --upstream-ca ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new TlsConfigError(`--upstream-ca ${caFile} holds no PEM certificate`);
    extra = pem;
  }
  let context: tls.SecureContext | null = null;
  return {
    get context(): tls.SecureContext {
      if (context === null) {
        const ca: string[] = [...tls.rootCertificates];
        if (existsSync(SYSTEM_BUNDLE)) ca.push(readFileSync(SYSTEM_BUNDLE, 'utf8'));
        if (extra !== null) ca.push(extra);
        context = tls.createSecureContext({ ca, minVersion: 'TLSv1.2' });
      }
      return context;
    },
    verify,
  };
}

/**
 * Why the peer's certificate is not acceptable for `domain`, or null when it is: an untrusted
 * chain (with OpenSSL's reason) or a name mismatch (RFC 6125 §6.4: DNS-ID in subjectAltName).
 */
export function certificateProblem(socket: tls.TLSSocket, domain: string): string | null {
  const cert = socket.getPeerCertificate();
  // Node runs its own name check when SNI is set; we redo it below to say what did not match.
  const authError = socket.authorizationError as unknown as { code?: string; message?: string } | string | null;
  const altname = /ERR_TLS_CERT_ALTNAME_INVALID/.test(typeof authError === 'string' ? authError : `${authError?.code ?? ''} ${authError?.message ?? ''}`);
  if (!socket.authorized && !altname) {
    const reason = socket.authorizationError instanceof Error ? socket.authorizationError.message : String(socket.authorizationError ?? 'unknown');
    return `certificate not trusted (${reason})${cert?.subject?.CN ? ` for CN=${cert.subject.CN}` : ''}`;
  }
  const mismatch = tls.checkServerIdentity(domain, cert);
  if (mismatch !== undefined) return `certificate does not match ${domain}: ${mismatch.message}`;
  return null;
}

export interface TlsStart {
  /** An already connected TCP socket (STARTTLS after <proceed/>, or after a PROXY header). */
  readonly socket: net.Socket;
  readonly domain: string;
  readonly policy: TlsPolicy;
  /** XEP-0368: direct TLS announces ALPN `xmpp-client`. */
  readonly alpn: boolean;
}

/**
 * Starts the TLS handshake on `socket`. `done(null, socket)` after a verified handshake (or an
 * unverified one with --upstream-tls-verify off), or `done(problem)`; exactly once unless the
 * returned socket is destroyed first.
 */
export function startTls(start: TlsStart, done: (problem: { kind: 'verify' | 'handshake' | 'closed'; message: string } | null) => void): tls.TLSSocket {
  const options: tls.ConnectionOptions = {
    socket: start.socket,
    secureContext: start.policy.context,
    // We decide ourselves (certificateProblem), to log exactly what did not match.
    rejectUnauthorized: false,
  };
  // SNI must not carry an IP literal (RFC 6066 §3).
  if (isIP(start.domain) === 0) options.servername = start.domain;
  if (start.alpn) options.ALPNProtocols = [ALPN_XMPP_CLIENT];
  const socket = tls.connect(options);
  let settled = false;
  const settle = (problem: Parameters<typeof done>[0]): void => {
    if (settled) return;
    settled = true;
    socket.removeListener('secureConnect', onSecure);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    done(problem);
  };
  const onSecure = (): void => {
    const problem = start.policy.verify ? certificateProblem(socket, start.domain) : null;
    settle(problem === null ? null : { kind: 'verify', message: problem });
  };
  const onError = (err: NodeJS.ErrnoException): void => {
    const closed = err.code === 'ECONNRESET' || /socket disconnected|socket hang up/i.test(err.message);
    settle({ kind: closed ? 'closed' : 'handshake', message: `${err.code ?? 'error'}: ${err.message}` });
  };
  const onClose = (): void => settle({ kind: 'closed', message: 'connection closed during the TLS handshake' });
  socket.once('secureConnect', onSecure);
  socket.once('error', onError);
  socket.once('close', onClose);
  return socket;
}
