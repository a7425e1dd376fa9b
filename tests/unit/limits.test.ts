import { defaultConfig } from '../../src/config';
import { limitsFrom } from '../../src/limits';
import { DEFAULT_TOKENIZER_LIMITS } from '../../src/xml/tokens';

describe('limitsFrom: one Limits object from the configuration', () => {
  it('gives every tokenizer --max-stanza-size and --max-depth, and ws twice the element size', () => {
    const limits = limitsFrom(defaultConfig({ maxStanzaSize: 50_000, maxDepth: 16 }));
    expect(limits.xml).toEqual({ maxElementBytes: 50_000, maxDepth: 16, maxAttributes: DEFAULT_TOKENIZER_LIMITS.maxAttributes });
    expect(limits.maxWebSocketMessageBytes).toBe(100_000);
    expect(Object.isFrozen(limits) && Object.isFrozen(limits.xml)).toBe(true);
  });
  it('the configuration defaults are the tokenizer defaults (written once)', () => {
    const config = defaultConfig();
    expect(config.maxStanzaSize).toBe(DEFAULT_TOKENIZER_LIMITS.maxElementBytes);
    expect(config.maxDepth).toBe(DEFAULT_TOKENIZER_LIMITS.maxDepth);
  });
});
