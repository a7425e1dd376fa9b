/**
 * The package version, read once from package.json: one level up from dist/ or src/, two from
 * build/src/ (the test and demo build, `npm run build:tools`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The version in this package's package.json one or two levels above `dir`; '0.0.0' when none is found. */
export function readVersion(dir: string = __dirname): string {
  for (const up of [['..'], ['..', '..']]) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, ...up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'xmpp-ws-gateway' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not there: try the next level
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
