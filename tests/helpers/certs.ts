/**
 * Certificates made at test setup with the `openssl` command: one private CA and server
 * certificates for the test domains, in a temp dir removed by `remove()`. Real X.509, real chains:
 * the gateway's verification (RFC 6125) runs exactly as in production.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ServerCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: string;
  /** A server certificate signed by the CA, with these DNS names in subjectAltName. */
  issue(name: string, dnsNames: readonly string[]): ServerCert;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'xmppgw-pki-'));
  chmodSync(dir, 0o755);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=xmpp-ws-gateway test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const caFile = path.join(dir, 'ca.pem');
  let serial = 1;
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(name, dnsNames) {
      const ext = path.join(dir, `${name}.ext`);
      writeFileSync(ext, `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${dnsNames[0]}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', '2', '-out', `${name}.pem`, '-extfile', ext], dir);
      const certFile = path.join(dir, `${name}.pem`);
      const keyFile = path.join(dir, `${name}.key`);
      // Servers running as their own user (prosody, ejabberd) must read them.
      chmodSync(certFile, 0o644);
      chmodSync(keyFile, 0o644);
      return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
