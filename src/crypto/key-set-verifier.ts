/**
 * Streaming verification of one image signature against a key set (src/crypto/key-set.ts):
 * any one key may have signed, and Ed25519's k = SHA-512(R ‖ A ‖ M) depends on the key A,
 * so each key needs its own SHA-512 pass over the image. They run side by side on worker
 * threads while the image streams in: one read of the bytes, one pass per key (a key set
 * holds one key, or two during a rotation).
 */
import {
  createOffThreadEd25519Verifier,
  type OffThreadEd25519Verifier,
} from './ed25519-offthread.js';

export function createKeySetVerifier(
  signature: Uint8Array,
  keys: readonly Uint8Array[],
): OffThreadEd25519Verifier {
  const verifiers = keys.map((key) => createOffThreadEd25519Verifier(signature, key));
  if (verifiers.length === 1) return verifiers[0]!;
  let result: Promise<boolean> | undefined;
  return {
    update(chunk) {
      let wait = false;
      for (const v of verifiers) wait = v.update(chunk) || wait;
      return wait;
    },
    ready: async () => {
      await Promise.all(verifiers.map((v) => v.ready()));
    },
    verify() {
      result ??= Promise.all(verifiers.map((v) => v.verify())).then((ok) => ok.some(Boolean));
      return result;
    },
    close: async () => {
      await Promise.all(verifiers.map((v) => v.close()));
    },
  };
}
