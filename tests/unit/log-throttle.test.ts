import { LogThrottle } from '../../src/util/log-throttle';

describe('LogThrottle', () => {
  let now = 0;
  const make = (windowMs = 1000, maxKeys = 3) => new LogThrottle(windowMs, maxKeys, () => now);
  beforeEach(() => {
    now = 0;
  });

  it('lets the first event of a key through, holds back the rest of its window, then reports how many were held', () => {
    const t = make();
    expect(t.hit('a', 'g')).toEqual({ key: 'a', suppressed: 0, overflow: false });
    now = 500;
    expect(t.hit('a', 'g')).toBeNull();
    expect(t.hit('a', 'g')).toBeNull();
    // Another key has its own window.
    expect(t.hit('b', 'g')).toEqual({ key: 'b', suppressed: 0, overflow: false });
    now = 1000;
    expect(t.hit('a', 'g')).toEqual({ key: 'a', suppressed: 2, overflow: false });
    expect(t.hit('a', 'g')).toBeNull();
  });

  it('flush reports the held-back count of keys whose window passed, and forgets them', () => {
    const t = make();
    t.hit('a', 'g');
    t.hit('a', 'g');
    t.hit('b', 'g');
    now = 999;
    expect(t.flush()).toEqual([]);
    now = 1000;
    expect(t.flush()).toEqual([{ key: 'a', suppressed: 1, overflow: false }]);
    expect(t.size).toBe(0);
    // Forgotten: the next event is logged again, with nothing held.
    expect(t.hit('a', 'g')).toEqual({ key: 'a', suppressed: 0, overflow: false });
  });

  it('stays bounded: past maxKeys live keys, new keys share one overflow key per group', () => {
    const t = make(1000, 3);
    for (const k of ['a', 'b', 'c']) expect(t.hit(k, 'g')?.overflow).toBe(false);
    expect(t.hit('d', 'g')).toEqual({ key: 'g\u0000*', suppressed: 0, overflow: true });
    expect(t.hit('e', 'g')).toBeNull();
    expect(t.hit('x', 'h')).toEqual({ key: 'h\u0000*', suppressed: 0, overflow: true });
    for (let i = 0; i < 10_000; i++) t.hit(`ip${i}`, i % 2 ? 'g' : 'h');
    expect(t.size).toBe(5);
    // Expired keys with nothing held back make room for new ones without a flush.
    const u = make(1000, 2);
    u.hit('a', 'g');
    u.hit('b', 'g');
    now = 1000;
    expect(u.hit('c', 'g')).toEqual({ key: 'c', suppressed: 0, overflow: false });
    expect(u.size).toBe(1);
  });

  it('a key holding a count is not dropped to make room: its count is reported by flush', () => {
    const t = make(1000, 1);
    t.hit('a', 'g');
    t.hit('a', 'g');
    now = 2000;
    expect(t.hit('b', 'g')?.overflow).toBe(true);
    expect(t.flush()).toEqual([{ key: 'a', suppressed: 1, overflow: false }]);
  });
});
