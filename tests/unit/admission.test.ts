import { AdmissionControl } from '../../src/http/admission';

describe('AdmissionControl', () => {
  let now = 0;
  const make = (maxConnections: number, maxConnectionsPerIp: number, count: number, windowMs = 1000) =>
    new AdmissionControl({ maxConnections, maxConnectionsPerIp, connectionRatePerIp: { count, windowMs } }, () => now);

  beforeEach(() => {
    now = 0;
  });

  it('caps the total (503 case)', () => {
    const a = make(2, 0, 0);
    expect([a.admit('a'), a.admit('b'), a.admit('c')]).toEqual(['ok', 'ok', 'over_limit']);
    a.release('a');
    expect(a.admit('c')).toBe('ok');
  });

  it('caps concurrent sessions per IP (429 case)', () => {
    const a = make(0, 2, 0);
    expect([a.admit('x'), a.admit('x'), a.admit('x'), a.admit('y')]).toEqual(['ok', 'ok', 'per_ip', 'ok']);
    a.release('x');
    expect(a.admit('x')).toBe('ok');
  });

  it('limits the rate of new sessions per IP per window', () => {
    const a = make(0, 0, 3, 1000);
    for (let i = 0; i < 3; i++) expect(a.admit('x')).toBe('ok');
    expect(a.admit('x')).toBe('rate_limited');
    expect(a.admit('y')).toBe('ok');
    now = 1000;
    expect(a.admit('x')).toBe('ok');
  });

  it('treats 0 as unlimited and forgets idle addresses', () => {
    const a = make(0, 0, 0);
    for (let i = 0; i < 1000; i++) expect(a.admit(`10.0.${i >> 8}.${i & 255}`)).toBe('ok');
    for (let i = 0; i < 1000; i++) a.release(`10.0.${i >> 8}.${i & 255}`);
    expect(a.active).toBe(0);
    now = 5000;
    a.sweep();
    expect(a.trackedAddresses).toBe(0);
  });
});
