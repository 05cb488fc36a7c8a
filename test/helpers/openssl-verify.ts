/**
 * openssl as an independent Ed25519 verifier: `pkeyutl -verify -rawin` checks a raw
 * 64-byte signature over a whole file with the PEM public key. Returns openssl's output;
 * throws when the signature does not verify.
 */
import { execFileSync } from 'node:child_process';

export function opensslVerify(pubPem: string, file: string, sigPath: string): string {
  const args = ['pkeyutl', '-verify', '-pubin', '-inkey', pubPem, '-rawin', '-in', file];
  return execFileSync('openssl', [...args, '-sigfile', sigPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
}
