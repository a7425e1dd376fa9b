/**
 * The process's open-file limit, read from /proc (Linux), so start-up can warn when
 * `--max-connections` cannot be reached: every session holds two descriptors (the WebSocket and the
 * upstream TCP connection). Elsewhere the limit is unknown and nothing is said.
 */
import { readFileSync } from 'node:fs';

/** The soft "Max open files" limit, or null when it cannot be read or is unlimited. */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (!m || m[1] === 'unlimited') return null;
  const n = Number(m[1]);
  return Number.isFinite(n) ? n : null;
}

/** Descriptors a worker needs for `maxConnections` sessions, plus headroom for listeners and probes. */
export function descriptorsNeeded(maxConnections: number): number {
  return 2 * maxConnections + 64;
}
