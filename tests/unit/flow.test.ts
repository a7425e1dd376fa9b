import { ReadGate, TokenBucket } from '../../src/session/flow';

describe('ReadGate', () => {
  it('pauses on the first reason and resumes only after the last', () => {
    const calls: string[] = [];
    const gate = new ReadGate<'a' | 'b'>(() => calls.push('pause'), () => calls.push('resume'));
    expect(gate.hold('a')).toBe(true);
    expect(gate.hold('a')).toBe(false);
    gate.hold('b');
    gate.release('a');
    expect(gate.paused).toBe(true);
    gate.release('b');
    expect(gate.release('b')).toBe(false);
    expect(calls).toEqual(['pause', 'resume']);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then asks for the wait that keeps the average rate', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 2, () => now);
    expect(bucket.take(2000)).toBe(0);
    expect(bucket.take(500)).toBe(500);
    now += 500;
    expect(bucket.take(0)).toBe(0);
    now += 10_000;
    expect(bucket.take(2500)).toBe(500); // capacity is capped at the 2 s burst
  });
});
