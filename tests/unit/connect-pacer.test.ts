import { ConnectPacer } from '../../src/upstream/connect-pacer';

describe('ConnectPacer (--upstream-connect-rate)', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  const make = (count: number, windowMs: number) => new ConnectPacer({ count, windowMs }, () => Date.now());

  it('unlimited (count 0) starts everything at once', () => {
    const p = make(0, 1000);
    const started: number[] = [];
    for (let i = 0; i < 100; i++) p.schedule(() => (started.push(i), true));
    expect(started).toHaveLength(100);
    expect(p.waiting).toBe(0);
  });

  it('lets a burst of `count` through, then one every windowMs/count, in arrival order', () => {
    const p = make(4, 1000);
    const started: Array<[number, number]> = [];
    for (let i = 0; i < 10; i++) p.schedule(() => (started.push([i, Date.now()]), true));
    expect(started.map(([i]) => i)).toEqual([0, 1, 2, 3]);
    expect(p.waiting).toBe(6);
    jest.advanceTimersByTime(250);
    expect(started.map(([i]) => i)).toEqual([0, 1, 2, 3, 4]);
    jest.advanceTimersByTime(5 * 250);
    expect(started.map(([i]) => i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(started.map(([, t]) => t)).toEqual([0, 0, 0, 0, 250, 500, 750, 1000, 1250, 1500]);
    expect(p.waiting).toBe(0);
    p.close();
  });

  it('a connection no longer wanted (start returns false) uses no token', () => {
    const p = make(1, 1000);
    const started: string[] = [];
    p.schedule(() => (started.push('a'), true));
    p.schedule(() => false); // its session ended while waiting
    p.schedule(() => (started.push('c'), true));
    jest.advanceTimersByTime(1000);
    expect(started).toEqual(['a', 'c']);
  });

  it('refills to at most `count` after a quiet period', () => {
    const p = make(2, 1000);
    jest.advanceTimersByTime(60_000);
    const started: number[] = [];
    for (let i = 0; i < 5; i++) p.schedule(() => (started.push(i), true));
    expect(started).toEqual([0, 1]);
    p.close();
  });
});
