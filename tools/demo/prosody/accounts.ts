/** Accounts on the private Prosody, created with `prosodyctl` before the server starts. */
import { execFile } from 'node:child_process';
import type { ProsodyAccount } from './index';
import { childEnv, type Identity } from './process';

const PROSODYCTL_TIMEOUT_MS = 15_000;

export function registerAccount(
  prosodyctlBin: string,
  configFile: string,
  account: Required<ProsodyAccount>,
  domain: string,
  dir: string,
  runAs: Identity | undefined,
): Promise<void> {
  // 0.12 still accepts the ejabberdctl-style `register USER HOST PASSWORD` (hidden from --help),
  // which, unlike `adduser`, takes the password as an argument instead of from a terminal.
  const args = ['--config', configFile, 'register', account.username, domain, account.password];
  return new Promise((resolve, reject) => {
    execFile(
      prosodyctlBin,
      args,
      { cwd: dir, env: childEnv(dir), timeout: PROSODYCTL_TIMEOUT_MS, ...(runAs ?? {}) },
      (err, stdout, stderr) => {
        if (!err) return resolve();
        reject(
          new Error(
            // prosodyctl pads its messages with blank lines and asterisks; keep the words.
            `prosodyctl register ${account.username} ${domain} failed: ${err.message}\n${stdout}${stderr}`
              .split(account.password)
              .join('<password>')
              .replace(/\n\s*(\*+\s*)?\n/g, '\n')
              .trim(),
          ),
        );
      },
    );
  });
}
