/**
 * Ed25519 signature verification (RFC 8032, pure Ed25519, §5.1.7) that can stream
 * the message.
 *
 * Why not just node:crypto's `verify(null, message, key, sig)`? It needs the whole
 * message in memory, and an OS image is hundreds of MiB. Pure Ed25519 hashes the
 * message only once, in k = SHA-512(R || A || M), and R and A are known before the
 * first message byte (the signature is fetched before the image), so the hash can be
 * fed while downloading. Only the final group equation is computed here, with BigInt:
 * it runs once per file (a few milliseconds), so speed and constant time do not
 * matter (everything it touches is public).
 *
 * The check follows the reference verifiers (RFC 8032 §6, ref10, OpenSSL): compute
 * R' = [S]B - [k]A and compare its canonical encoding with the R bytes of the
 * signature. That is the cofactorless equation [S]B = R + [k]A, and comparing
 * encodings also rejects any non-canonical or off-curve R. test/crypto/ed25519.test.ts
 * cross-checks this against node:crypto (OpenSSL) and `openssl pkeyutl`. Two deliberate
 * differences from OpenSSL, both stricter: non-canonical public key encodings (y >= p)
 * are rejected as §5.1.3 requires, and so are small-order public keys (see isSmallOrder).
 */
import { createHash, type Hash } from 'node:crypto';

// RFC 8032 §5.1: edwards25519 parameters.
const P = 2n ** 255n - 19n;
/** Order of the prime-order subgroup (RFC 8032 "L"). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * inv(121666n));
/** sqrt(-1) mod p, used by the square-root step of point decoding (§5.1.3 step 3). */
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

/** A point in extended homogeneous coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z. */
interface Point {
  x: bigint;
  y: bigint;
  z: bigint;
  t: bigint;
}

const BASE_Y = mod(4n * inv(5n));
const BASE: Point = (() => {
  const x = recoverX(BASE_Y, 0);
  if (x === undefined) throw new Error('unreachable: base point');
  return { x, y: BASE_Y, z: 1n, t: mod(x * BASE_Y) };
})();
const IDENTITY: Point = { x: 0n, y: 1n, z: 1n, t: 0n };

function mod(a: bigint, m: bigint = P): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

function pow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function inv(a: bigint): bigint {
  // Fermat: a^(p-2) = a^-1 mod p for prime p.
  return pow(a, P - 2n);
}

/** RFC 8032 §5.1.4: addition in extended coordinates (complete for edwards25519). */
function add(p: Point, q: Point): Point {
  const a = mod((p.y - p.x) * (q.y - q.x));
  const b = mod((p.y + p.x) * (q.y + q.x));
  const c = mod(2n * p.t * q.t * D);
  const d = mod(2n * p.z * q.z);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return { x: mod(e * f), y: mod(g * h), z: mod(f * g), t: mod(e * h) };
}

function negate(p: Point): Point {
  return { x: mod(-p.x), y: p.y, z: p.z, t: mod(-p.t) };
}

/** Variable-time double-and-add; inputs are public, see the module comment. */
function multiply(scalar: bigint, point: Point): Point {
  let result = IDENTITY;
  let addend = point;
  let s = scalar;
  while (s > 0n) {
    if (s & 1n) result = add(result, addend);
    addend = add(addend, addend);
    s >>= 1n;
  }
  return result;
}

/** RFC 8032 §5.1.2: encode y little-endian with the sign (low bit) of x in bit 255. */
function encode(p: Point): Uint8Array {
  const zInv = inv(p.z);
  const x = mod(p.x * zInv);
  const y = mod(p.y * zInv);
  const out = new Uint8Array(32);
  let v = y | ((x & 1n) << 255n);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function littleEndian(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return v;
}

/** RFC 8032 §5.1.3 steps 2-4: x from y and the sign bit; undefined if none exists. */
function recoverX(y: bigint, sign: number): bigint | undefined {
  // Step 1 (caller): y must be canonical, y < p.
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  const x2 = mod(u * inv(v));
  if (x2 === 0n) {
    // Step 4: x = 0 with the sign bit set is an invalid encoding.
    return sign === 1 ? undefined : 0n;
  }
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * SQRT_M1);
  if (mod(x * x - x2) !== 0n) return undefined; // step 3: no square root, not on the curve
  if (Number(x & 1n) !== sign) x = P - x;
  return x;
}

/** RFC 8032 §5.1.3: decode a 32-byte point encoding, strictly (y >= p is rejected). */
export function decodePoint(bytes: Uint8Array): Point | undefined {
  if (bytes.length !== 32) return undefined;
  const value = littleEndian(bytes);
  const sign = Number(value >> 255n);
  const y = value & ((1n << 255n) - 1n);
  if (y >= P) return undefined;
  const x = recoverX(y, sign);
  if (x === undefined) return undefined;
  return { x, y, z: 1n, t: mod(x * y) };
}

/**
 * Whether [8]P is the identity, i.e. P is one of the 8 points of small order.
 * RFC 8032 does not reject such public keys, but with A of small order [k]A takes at
 * most 8 values, so signatures can be forged for any message (with A = identity,
 * (R, S) = ([S]B, S) verifies everything; OpenSSL accepts that). No honest key is of
 * small order, so they are refused.
 */
export function isSmallOrder(point: Point): boolean {
  const p8 = multiply(8n, point);
  return p8.x === 0n && p8.y === p8.z;
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
  const k = mod(littleEndian(digest), L);
  const rCheck = encode(add(multiply(s, BASE), negate(multiply(k, a))));
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
