import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { PendingHandshakes } from '../../src/http/pending-handshakes';
import { TrustedProxies } from '../../src/http/trusted-proxies';

/** Just what the tracker reads from a socket: its peer address and its 'close' event. */
const fakeSocket = (remoteAddress: string): Socket => Object.assign(new EventEmitter(), { remoteAddress }) as unknown as Socket;

describe('PendingHandshakes', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('counts per address: the limit binds one address while another is served', () => {
    const t = new PendingHandshakes({ handshakeTimeoutMs: 1000, maxHandshakesPerIp: 2 }, new TrustedProxies([]), () => undefined);
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
    const t = new PendingHandshakes({ handshakeTimeoutMs: 1000, maxHandshakesPerIp: 1 }, new TrustedProxies([]), () => undefined);
    const s = fakeSocket('192.0.2.1');
    t.track(s);
    expect(t.trackedAddresses).toBe(1);
    s.emit('close');
    expect(t.size).toBe(0);
    expect(t.trackedAddresses).toBe(0);
    expect(t.track(fakeSocket('192.0.2.1'))).toBe('ok');
  });

  it('expires a connection at the deadline, once, unless it settled first', () => {
    const expired: Socket[] = [];
    const t = new PendingHandshakes({ handshakeTimeoutMs: 1000, maxHandshakesPerIp: 0 }, new TrustedProxies([]), (s) => expired.push(s));
    const slow = fakeSocket('192.0.2.1');
    const quick = fakeSocket('192.0.2.2');
    t.track(slow);
    t.track(quick);
    t.settle(quick);
    jest.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(expired).toEqual([slow]);
    expect(t.size).toBe(0);
    jest.advanceTimersByTime(5000);
    expect(expired).toEqual([slow]);
  });

  it('trusted proxies are not counted per address, but still have the deadline', () => {
    const expired: Socket[] = [];
    const t = new PendingHandshakes({ handshakeTimeoutMs: 1000, maxHandshakesPerIp: 1 }, new TrustedProxies(['10.0.0.0/8']), (s) => expired.push(s));
    for (let i = 0; i < 5; i++) expect(t.track(fakeSocket('10.1.2.3'))).toBe('ok');
    expect(t.trackedAddresses).toBe(0);
    jest.advanceTimersByTime(1000);
    expect(expired).toHaveLength(5);
  });
});
