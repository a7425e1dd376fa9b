/**
 * A bare TCP connection with a deadline, for the /readyz probe (./probe.ts); sessions dial through
 * ./dial.ts. The caller gets the
 * socket at once and learns the outcome from the callback, so it can tear the attempt down at any time.
 */
import * as net from 'node:net';
import type { HostPort } from '../config';
import type { ConnectPacer } from './connect-pacer';

export type ConnectOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'refused' | 'timeout' | 'error'; readonly message: string };

/**
 * Starts a TCP connection with a deadline. `done` is called exactly once, unless the caller destroys
 * the socket first (then never): the caller owns the socket from the start. With a `pacer`, the
 * connect itself may wait for its turn (./connect-pacer.ts); the deadline runs from now.
 */
export function connectUpstream(target: HostPort, timeoutMs: number, done: (outcome: ConnectOutcome) => void, pacer?: ConnectPacer): net.Socket {
  const socket = new net.Socket();
  socket.setNoDelay(true);
  let settled = false;
  let started = false;
  const settle = (outcome: ConnectOutcome): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('connect', onConnect);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    done(outcome);
  };
  const onConnect = (): void => settle({ ok: true });
  const onError = (err: NodeJS.ErrnoException): void => {
    const reason = err.code === 'ECONNREFUSED' ? 'refused' : 'error';
    settle({ ok: false, reason, message: `${err.code ?? 'error'} connecting to ${target.host}:${target.port}` });
  };
  // Destroyed by the caller before connecting: nobody is waiting for the outcome any more.
  const onClose = (): void => {
    settled = true;
    clearTimeout(timer);
  };
  const timer = setTimeout(() => {
    const waited = started ? '' : ' (still waiting for its turn under --upstream-connect-rate)';
    settle({ ok: false, reason: 'timeout', message: `no TCP connection to ${target.host}:${target.port} within ${timeoutMs} ms${waited}` });
  }, timeoutMs);
  socket.once('connect', onConnect);
  socket.once('error', onError);
  socket.once('close', onClose);
  const start = (): boolean => {
    if (settled || socket.destroyed) return false;
    started = true;
    socket.connect({ host: target.host, port: target.port });
    return true;
  };
  if (pacer === undefined) start();
  else pacer.schedule(start);
  return socket;
}
