import { RidWindow } from '../../../src/transports/bosh/rid-window';

describe('RidWindow (XEP-0124 §14)', () => {
  it('in order, early, held, cached, out of window', () => {
    const w = new RidWindow<string>(100, 2);
    expect(w.classify(100)).toEqual({ kind: 'held' });
    expect(w.classify(101)).toEqual({ kind: 'in-order' });
    expect(w.classify(102)).toEqual({ kind: 'early' });
    expect(w.classify(103).kind).toBe('out-of-window');
    w.recordAnswer(100, Buffer.from('r100'));
    expect(w.classify(100)).toEqual({ kind: 'cached', response: Buffer.from('r100') });
    expect(w.classify(99).kind).toBe('out-of-window');
  });

  it('an early request waits until the gap fills, then comes out in order', () => {
    const w = new RidWindow<string>(1, 3);
    expect(w.holdEarly(3, 'three')).toBe(true);
    expect(w.holdEarly(4, 'four')).toBe(true);
    expect(w.holdEarly(3, 'again')).toBe(false);
    expect(w.takeNext()).toBeUndefined();
    w.processed(2);
    expect(w.takeNext()).toBe('three');
    w.processed(3);
    expect(w.takeNext()).toBe('four');
    w.processed(4);
    expect(w.takeNext()).toBeUndefined();
    expect(w.earlyCount).toBe(0);
  });

  it('keeps only the last `requests` responses', () => {
    const w = new RidWindow<string>(1, 2);
    w.recordAnswer(1, Buffer.from('1'));
    for (const rid of [2, 3, 4]) {
      w.processed(rid);
      w.recordAnswer(rid, Buffer.from(String(rid)));
    }
    expect(w.classify(4).kind).toBe('cached');
    expect(w.classify(3).kind).toBe('cached');
    expect(w.classify(2).kind).toBe('out-of-window');
    expect(w.classify(1).kind).toBe('out-of-window');
  });

  it('refuses to process out of order', () => {
    const w = new RidWindow<string>(1, 2);
    expect(() => w.processed(3)).toThrow(/out of order/);
  });

  it('hands back early requests when the session ends', () => {
    const w = new RidWindow<string>(1, 3);
    w.holdEarly(3, 'a');
    w.holdEarly(4, 'b');
    expect(w.drainEarly().sort()).toEqual(['a', 'b']);
    expect(w.earlyCount).toBe(0);
  });
});
