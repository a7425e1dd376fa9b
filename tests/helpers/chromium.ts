/**
 * Debian's Chromium through playwright-core for the browser tests: launch with the project's flags
 * and a private profile, and on close make sure every Chromium process of that profile is gone.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { processesMentioning } from './processes';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface Chromium {
  readonly context: BrowserContext;
  /** Closes the browser; resolves with the PIDs that had to be killed afterwards (expected: none). */
  close(): Promise<number[]>;
}

/**
 * `blockNonLoopback` (default true) aborts every request to a host other than loopback through
 * Playwright's request interception. Interception changes how Chromium handles CORS preflights, so
 * tests that assert on preflights turn it off (their pages ask for nothing else).
 */
export async function launchChromium(options: { ignoreHTTPSErrors?: boolean; blockNonLoopback?: boolean } = {}): Promise<Chromium> {
  try {
    execFileSync(CHROMIUM, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new Error(`${CHROMIUM} is not installed: run \`npm run test:deps\` (installs Debian chromium)`);
  }
  const profileDir = mkdtempSync(join(tmpdir(), 'xmppgw-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
    viewport: { width: 1100, height: 700 },
  });
  // Loopback only: anything else a page asks for (Converse's footer shows sponsor logos from
  // conversejs.org) is aborted in the browser, before any DNS lookup.
  if (options.blockNonLoopback ?? true) {
    await context.route((url) => !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname), (route) => route.abort('blockedbyclient'));
  }
  return {
    context,
    async close() {
      // Chromium's processes all carry the profile dir on their command line while alive; after
      // close, wait (bounded) until every one has left /proc, then kill any straggler.
      const ours = processesMentioning(profileDir);
      await context.close().catch(() => undefined);
      const alive = (): number[] => ours.filter((pid) => existsSync(`/proc/${pid}`));
      const deadline = Date.now() + 5000;
      while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const left = [...new Set([...alive(), ...processesMentioning(profileDir)])];
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(profileDir, { recursive: true, force: true });
      return left;
    },
  };
}

/** A git-ignored folder for screenshots and other artefacts a test keeps: test-output/<name>/. */
export function testOutputDir(name: string): string {
  const dir = join(__dirname, '..', '..', 'test-output', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
