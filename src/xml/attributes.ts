/** Reading attributes of a token the tokenizer produced (./tokens.ts). Pure. */
import type { Attribute } from './tokens';

/** The value of the attribute with this qualified name (`to`, `xmlns:stream`), or undefined. */
export function getAttr(attrs: readonly Attribute[], name: string): string | undefined {
  for (const a of attrs) if (a.name === name) return a.value;
  return undefined;
}
