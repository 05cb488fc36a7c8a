/** Public surface of src/crypto: key/signature formats, Ed25519, SHA-256. */
export {
  parsePublicKey,
  parseSignature,
  publicKeyBytes,
  publicKeyObject,
  hexToBytes,
  bytesToHex,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  MAX_SIGNATURE_FILE_BYTES,
} from './keys.js';
export { loadKeySet, parseKeySet, type TrustedKey } from './key-set.js';
export { verifyEd25519, createEd25519Verifier, type Ed25519StreamVerifier } from './ed25519.js';
export { sha256Hex, sha256File, sameDigest, type FileDigestOptions } from './sha256.js';
