/**
 * `npm run demo` as a user runs it (the built `build/tools/demo/main.js`, on a random port): it prints the
 * chat page, and the two demo accounts log in from two Chromium tabs on that page and chat.
 * Ctrl-C (SIGINT) then stops the gateway and Prosody cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium, testOutputDir, type Chromium } from '../helpers/chromium';
import { ConverseTab, deliver, startChat } from '../helpers/converse';
import { waitUntil } from '../helpers/raw-xmpp';

jest.setTimeout(150_000);

const DEMO = join(__dirname, '..', '..', 'build', 'tools', 'demo', 'main.js');

describe('npm run demo: the chat page', () => {
  let demo: ChildProcess;
  let stdout = '';
  let browser: Chromium;

  beforeAll(async () => {
    if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: run \`npm run build:tools\` first (npm test and npm run test:e2e do)`);
    demo = spawn(process.execPath, [DEMO, '--listen', '127.0.0.1:0', '--metrics-listen', 'off'], { stdio: ['ignore', 'pipe', 'pipe'] });
    demo.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    demo.stderr!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    await waitUntil(() => /Ctrl-C stops/.test(stdout) || demo.exitCode !== null, 'the demo banner', 60_000);
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    const left = await browser?.close();
    if (demo && demo.exitCode === null) {
      demo.kill('SIGKILL');
      await new Promise((r) => demo.once('exit', r));
    }
    expect(left ?? []).toEqual([]);
  }, 30_000);

  test('prints the chat page; alice and bob log in from two tabs and chat; Ctrl-C stops it', async () => {
    const page = /Chat page:\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1];
    expect(page).toBeDefined();
    expect(stdout).toContain('alice@localhost / alice-demo-password');
    const a = await ConverseTab.open(browser.context, page!);
    const b = await ConverseTab.open(browser.context, page!);
    const alice = { jid: 'alice@localhost', password: 'alice-demo-password', login: 'alice' };
    const bob = { jid: 'bob@localhost', password: 'bob-demo-password', login: 'bob' };
    await startChat(a, alice, b, bob);
    const hello = `hello from the demo ${Date.now()}`;
    await deliver(a, alice, b, bob, hello);
    const back = `hello back ${Date.now()}`;
    await deliver(b, bob, a, alice, back);
    await b.page.screenshot({ path: join(testOutputDir('e2e-demo'), 'bob.png') });
    await a.page.close();
    await b.page.close();

    const exited = new Promise<number | null>((r) => demo.once('exit', (code) => r(code)));
    demo.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toContain('Stopped; temporary files removed.');
  });
});
