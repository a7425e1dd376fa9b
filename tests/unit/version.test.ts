/**
 * The version in logs and metrics comes from package.json wherever the code was compiled to: dist/
 * (npm run build) is one level below it, build/src/ (npm run build:tools: the demo and the tests'
 * tools) two. The demo logged version 0.0.0 before this was looked up at both levels.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSION, readVersion } from '../../src/version';
import pkg from '../../package.json';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'xmppgw-version-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'xmpp-ws-gateway', version: '9.8.7' }));
  mkdirSync(join(root, 'dist'));
  mkdirSync(join(root, 'build', 'src'), { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

it('is the package version when running from src/', () => {
  expect(VERSION).toBe(pkg.version);
});

it('finds package.json one level up (dist/) and two levels up (build/src/)', () => {
  expect(readVersion(join(root, 'dist'))).toBe('9.8.7');
  expect(readVersion(join(root, 'build', 'src'))).toBe('9.8.7');
});

it("ignores another package's package.json on the way up", () => {
  writeFileSync(join(root, 'build', 'package.json'), JSON.stringify({ name: 'something-else', version: '1.0.0' }));
  expect(readVersion(join(root, 'build', 'src'))).toBe('9.8.7');
  expect(readVersion(tmpdir())).toBe('0.0.0');
});
