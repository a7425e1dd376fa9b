/**
 * The plain-TCP Dialer (./dialer.ts): every session goes to the one configured c2s endpoint, over
 * TCP, whatever domain the client asked for. Routing, TLS and STARTTLS dialers implement the same
 * seam.
 */
import type { HostPort } from '../config';
import { connectUpstream } from './connect';
import type { DialHandle, Dialer } from './dialer';

/** Dials `target` with a `timeoutMs` deadline for the TCP handshake. */
export function plainDialer(target: HostPort, timeoutMs: number): Dialer {
  const where = `${target.host}:${target.port}`;
  return (_request, done) => {
    // Settled by the outcome or by cancel(), whichever comes first; after the outcome the socket is the caller's.
    let settled = false;
    const socket = connectUpstream(target, timeoutMs, (outcome) => {
      if (settled) return;
      settled = true;
      if (outcome.ok) {
        done({ ok: true, socket, target: where, secure: false });
        return;
      }
      socket.destroy();
      done({ ok: false, code: 'UPSTREAM_CONNECT_FAILED', result: outcome.reason, message: `cannot reach the XMPP server: ${outcome.message}` });
    });
    const handle: DialHandle = {
      cancel() {
        if (settled) return;
        settled = true;
        socket.destroy();
      },
    };
    return handle;
  };
}
