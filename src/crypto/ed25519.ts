/**
 * Ed25519 signature verification (RFC 8032, pure Ed25519, §5.1.7) that can stream
 * the message.
 *
 * Why not just node:crypto's `verify(null, message, key, sig)`? It needs the whole
 * message in memory, and an OS image is hundreds of MiB. Pure Ed25519 hashes the
 * message only once, in k = SHA-512(R || A || M), and R and A are known before the
 * first message byte (the signature is fetched before the image), so the hash can be
 * fed while downloading (node:crypto's SHA-512). Only the final group equation is
 * left, once per file; its point arithmetic is @noble/curves' (audited), not ours.
 *
 * The check follows the reference verifiers (RFC 8032 §6, ref10, OpenSSL): compute
 * R' = [S]B - [k]A and compare its canonical encoding with the R bytes of the
 * signature. That is the cofactorless equation [S]B = R + [k]A, and comparing
 * encodings also rejects any non-canonical or off-curve R. (noble's own
 * `ed25519.verify` uses the cofactored equation, which accepts R with a small-order
 * component; that is why only its Point is used here.) Two deliberate differences from
 * OpenSSL, both stricter: non-canonical public key encodings (y >= p) are rejected as
 * §5.1.3 requires (noble's `fromBytes(…, zip215 = false)`), and so are small-order
 * public keys (see isSmallOrder). test/crypto/ed25519.test.ts checks all of this
 * against node:crypto (OpenSSL), `openssl pkeyutl` and Wycheproof's vectors.
 */
import { createHash, type Hash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';

const Point = ed25519.Point;
type Point = InstanceType<typeof Point>;
/** Order of the prime-order subgroup (RFC 8032 "L"). */
const L = Point.Fn.ORDER;

function littleEndian(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return v;
}

/** RFC 8032 §5.1.3: decode a 32-byte point encoding, strictly (y >= p is rejected). */
export function decodePoint(bytes: Uint8Array): Point | undefined {
  if (bytes.length !== 32) return undefined;
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    return undefined;
  }
}

/**
 * Whether [8]P is the identity, i.e. P is one of the 8 points of small order.
 * RFC 8032 does not reject such public keys, but with A of small order [k]A takes at
 * most 8 values, so signatures can be forged for any message (with A = identity,
 * (R, S) = ([S]B, S) verifies everything; OpenSSL accepts that). No honest key is of
 * small order, so they are refused.
 */
export function isSmallOrder(point: Point): boolean {
  return point.isSmallOrder();
}

/**
 * The final step of RFC 8032 §5.1.7 once k's hash input has been fed:
 * decode A, require S < L, and compare encode([S]B - [k]A) with R. `digest` is
 * SHA-512(hashPrefix(signature, publicKey) || M).
 */
export function finalCheck(
  signature: Uint8Array,
  publicKey: Uint8Array,
  digest: Uint8Array,
): boolean {
  const a = decodePoint(publicKey);
  if (a === undefined || isSmallOrder(a)) return false;
  const s = littleEndian(signature.subarray(32, 64));
  // §5.1.7 step 1: S must be in [0, L) — rejects malleable (non-canonical) signatures.
  if (s >= L) return false;
  const k = littleEndian(digest) % L;
  // Variable time is fine: everything here is public.
  const rCheck = Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k)).toBytes();
  const r = signature.subarray(0, 32);
  for (let i = 0; i < 32; i++) if (rCheck[i] !== r[i]) return false;
  return true;
}

/** Incremental verifier: feed the message with update(), then call verify() once. */
export interface Ed25519StreamVerifier {
  update(chunk: Uint8Array): void;
  /** True when the signature is valid for the message fed; finishes the verifier. */
  verify(): boolean;
}

/**
 * Start verifying `signature` (64 bytes) by `publicKey` (32 bytes) over a message that
 * will be streamed in. Wrong lengths make verify() return false rather than throw, so
 * callers treat every malformed input as "invalid signature".
 */
export function createEd25519Verifier(
  signature: Uint8Array,
  publicKey: Uint8Array,
): Ed25519StreamVerifier {
  const prefix = hashPrefix(signature, publicKey);
  const wellFormed = prefix !== undefined;
  const hash: Hash = createHash('sha512');
  if (prefix) hash.update(prefix);
  let result: boolean | undefined;
  return {
    update(chunk) {
      if (wellFormed && result === undefined) hash.update(chunk);
    },
    verify() {
      // A digest can be taken only once; later calls return the same answer.
      result ??= wellFormed && finalCheck(signature, publicKey, hash.digest());
      return result;
    },
  };
}

/**
 * What SHA-512 must see before the message: RFC 8032 §5.1.7 step 2,
 * k = SHA-512(dom2(F, C) || R || A || PH(M)); for pure Ed25519 dom2 is empty and PH is
 * the identity, so R and A go first, then M. Undefined for wrong lengths (which
 * verify as invalid).
 */
export function hashPrefix(signature: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  if (signature.length !== 64 || publicKey.length !== 32) return undefined;
  return Buffer.concat([signature.subarray(0, 32), publicKey]);
}

/** One-shot verification of a message held in memory (metadata, small files). */
export function verifyEd25519(
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  const verifier = createEd25519Verifier(signature, publicKey);
  verifier.update(message);
  return verifier.verify();
}
