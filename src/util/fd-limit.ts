/**
 * The process's open-file limit, read from /proc (Linux), so start-up can warn when
 * `--max-connections` cannot be reached: every session holds two descriptors (the WebSocket and the
 * upstream TCP connection). Elsewhere the limit is unknown and nothing is said.
 */
import { readFileSync } from 'node:fs';

/**
 * The "Max open files" limit, or null when it cannot be read or is unlimited: the soft one (what the
 * process may open now) or the hard one (the most it can raise itself to without CAP_SYS_RESOURCE).
 */
export function openFileLimit(limitsText?: string, which: 'soft' | 'hard' = 'soft'): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const value = m?.[which === 'soft' ? 1 : 2];
  if (value === undefined || value === 'unlimited') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** Descriptors a worker needs for `maxConnections` sessions, plus headroom for listeners and probes. */
export function descriptorsNeeded(maxConnections: number): number {
  return 2 * maxConnections + 64;
}
