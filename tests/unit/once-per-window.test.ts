import { OncePerWindow } from '../../src/http/once-per-window';

describe('OncePerWindow', () => {
  it('lets a key through once per window', () => {
    const o = new OncePerWindow(60_000, 10);
    expect(o.take('a', 0)).toBe(true);
    expect(o.take('a', 59_999)).toBe(false);
    expect(o.take('b', 1)).toBe(true);
    expect(o.take('a', 60_000)).toBe(true);
    expect(o.take('a', 60_001)).toBe(false);
  });
  it('never remembers more than maxKeys, dropping the oldest first', () => {
    const o = new OncePerWindow(60_000, 100);
    for (let i = 0; i < 10_000; i++) expect(o.take(`origin-${i}`, i)).toBe(true);
    expect(o.size).toBe(100);
    expect(o.take('origin-9999', 10_000)).toBe(false); // recent: still remembered
    expect(o.take('origin-0', 10_000)).toBe(true); // forgotten long ago
  });
  it('forgets expired keys first when full', () => {
    const o = new OncePerWindow(1000, 3);
    o.take('old', 0);
    o.take('x', 1500);
    o.take('y', 1600);
    expect(o.take('z', 1700)).toBe(true);
    expect(o.size).toBe(3);
    expect(o.take('x', 1800)).toBe(false);
  });
});
