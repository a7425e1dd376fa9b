import { descriptorsNeeded, openFileLimit } from '../../src/util/fd-limit';

describe('openFileLimit', () => {
  it('reads the soft limit from /proc/self/limits text', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n';
    expect(openFileLimit(text)).toBe(20000);
    expect(openFileLimit('Max open files            unlimited            unlimited            files\n')).toBeNull();
    expect(openFileLimit('nothing here')).toBeNull();
  });
  it('reads the hard limit when asked (soft and hard differ here)', () => {
    const text = 'Max open files            1024                 524288               files\n';
    expect(openFileLimit(text)).toBe(1024);
    expect(openFileLimit(text, 'hard')).toBe(524288);
    expect(openFileLimit('Max open files            1024                 unlimited            files\n', 'hard')).toBeNull();
  });
  it('reads this process on Linux', () => {
    expect(openFileLimit()).toBeGreaterThan(0);
  });
  it('counts two descriptors per session', () => {
    expect(descriptorsNeeded(25000)).toBe(50064);
  });
});
