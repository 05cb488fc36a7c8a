/**
 * Streaming Ed25519 verification with the SHA-512 on a worker thread (sha512-worker.ts),
 * for large images: the same check as createEd25519Verifier (ed25519.ts), but `update`
 * can ask the caller to wait, and `verify` is asynchronous. Small messages (metadata)
 * use the in-thread verifier; a worker costs more than it saves there.
 */
import { finalCheck, hashPrefix } from './ed25519.js';
import { Sha512Worker } from './sha512-worker.js';

export interface OffThreadEd25519Verifier {
  /** Feed message bytes; true means "wait for ready() before feeding more". */
  update(chunk: Uint8Array): boolean;
  ready(): Promise<void>;
  /** True when the signature is valid for the message fed. Call once, after the last update. */
  verify(): Promise<boolean>;
  /** Stop the worker; call on every path (idempotent). */
  close(): Promise<void>;
}

export function createOffThreadEd25519Verifier(
  signature: Uint8Array,
  publicKey: Uint8Array,
): OffThreadEd25519Verifier {
  const prefix = hashPrefix(signature, publicKey);
  if (prefix === undefined) {
    // Malformed lengths: invalid, and nothing worth starting a thread for.
    return {
      update: () => false,
      ready: () => Promise.resolve(),
      verify: () => Promise.resolve(false),
      close: () => Promise.resolve(),
    };
  }
  const sha512 = new Sha512Worker();
  sha512.update(prefix);
  let result: Promise<boolean> | undefined;
  return {
    update: (chunk) => sha512.update(chunk),
    ready: () => sha512.ready(),
    verify() {
      result ??= sha512.digest().then((digest) => finalCheck(signature, publicKey, digest));
      return result;
    },
    close: () => sha512.close(),
  };
}
