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
 * `interceptRequests: false` keeps Playwright's request interception off: with it on, Playwright
 * answers every CORS preflight itself (204, allow-all), so a test about CORS would never reach the
 * server. Non-loopback host names are then refused by Chromium's own resolver instead.
 */
export async function launchChromium(options: { ignoreHTTPSErrors?: boolean; interceptRequests?: boolean } = {}): Promise<Chromium> {
  const intercept = options.interceptRequests ?? true;
  try {
    execFileSync(CHROMIUM, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new Error(`${CHROMIUM} is not installed: run \`npm run test:deps\` (installs Debian chromium)`);
  }
  const profileDir = mkdtempSync(join(tmpdir(), 'xmppgw-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: intercept ? CHROMIUM_ARGS : [...CHROMIUM_ARGS, '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
    timeout: 30_000,
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
    viewport: { width: 1100, height: 700 },
  });
  // Loopback only: anything else a page asks for (Converse's footer shows sponsor logos from
  // conversejs.org) is aborted in the browser, before any DNS lookup.
  if (intercept) await context.route((url) => !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname), (route) => route.abort('blockedbyclient'));
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
