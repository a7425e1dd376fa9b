import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { PendingHandshakes } from '../../src/http/pending-handshakes';
import { TrustedProxies } from '../../src/http/trusted-proxies';

/** Just what the tracker reads from a socket: its peer address and its 'close' event. */
const fakeSocket = (remoteAddress: string): Socket => Object.assign(new EventEmitter(), { remoteAddress }) as unknown as Socket;

describe('PendingHandshakes', () => {
  it('counts per address: the limit binds one address while another is served', () => {
    const t = new PendingHandshakes(2, new TrustedProxies([]));
    const a1 = fakeSocket('192.0.2.1');
    expect(t.track(a1)).toBe('ok');
    expect(t.track(fakeSocket('192.0.2.1'))).toBe('ok');
    expect(t.track(fakeSocket('192.0.2.1'))).toBe('per_ip');
    expect(t.track(fakeSocket('::ffff:192.0.2.1'))).toBe('per_ip'); // the same address on a dual-stack socket
    expect(t.track(fakeSocket('198.51.100.7'))).toBe('ok');
    // One of the first address's connections completes its head: room again.
    t.settle(a1);
    expect(t.track(fakeSocket('192.0.2.1'))).toBe('ok');
  });

  it('a closed connection frees its slot, and addresses are forgotten when their last one goes', () => {
    const t = new PendingHandshakes(1, new TrustedProxies([]));
    const s = fakeSocket('192.0.2.1');
    t.track(s);
    expect(t.trackedAddresses).toBe(1);
    s.emit('close');
    expect(t.size).toBe(0);
    expect(t.trackedAddresses).toBe(0);
    expect(t.track(fakeSocket('192.0.2.1'))).toBe('ok');
  });

  it('with the limit off, tracks nothing and does not even ask for the peer address', () => {
    const t = new PendingHandshakes(0, new TrustedProxies([]));
    const socket = new EventEmitter() as unknown as Socket;
    Object.defineProperty(socket, 'remoteAddress', { get: () => { throw new Error('read remoteAddress'); } });
    for (let i = 0; i < 5; i++) expect(t.track(socket)).toBe('ok');
    expect(t.size).toBe(0);
    expect((socket as unknown as EventEmitter).listenerCount('close')).toBe(0);
  });

  it('trusted proxies are not counted per address', () => {
    const t = new PendingHandshakes(1, new TrustedProxies(['10.0.0.0/8']));
    for (let i = 0; i < 5; i++) expect(t.track(fakeSocket('10.1.2.3'))).toBe('ok');
    expect(t.trackedAddresses).toBe(0);
    expect(t.size).toBe(0);
  });
});
