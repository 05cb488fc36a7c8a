/**
 * Key and signature file formats (docs/design.md §3.4), shared with the KubeSolo OS Go agent:
 * a public key file holds 64 hex characters (the 32-byte RFC 8032 public key A),
 * surrounding whitespace trimmed; a `.sig` file holds the 64-byte signature R || S,
 * either raw or as 128 hex characters (whitespace trimmed).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { decodePoint, isSmallOrder } from './ed25519.js';
import { ConfigError, VerificationError } from '../errors.js';

const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** A .sig file is never larger than this (128 hex + generous whitespace). */
export const MAX_SIGNATURE_FILE_BYTES = 1024;

const HEX = /^[0-9a-fA-F]*$/;

/** Hex string → bytes, or undefined when it is not even-length hex. */
export function hexToBytes(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !HEX.test(hex)) return undefined;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * A key's fingerprint, the one way every message and output names a key: the first 16
 * hex characters of the SHA-256 of the raw 32-byte public key. (Not the key's own first
 * characters: a fingerprint cannot be mistaken for a key, or a key cut short.)
 */
export function keyFingerprint(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** Fingerprints of a key set for a message: `key 1a2b...` or `keys 1a2b..., 3c4d...`. */
export function describeKeys(keys: readonly Uint8Array[]): string {
  const fps = keys.map(keyFingerprint).join(', ');
  return keys.length === 1 ? `key ${fps}` : `keys ${fps}`;
}

/** Parse a public key file's text: 64 hex characters after trimming (ConfigError, exit 2). */
export function parsePublicKey(text: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = trimmed.length === PUBLIC_KEY_BYTES * 2 ? hexToBytes(trimmed) : undefined;
  // RFC 8032 §5.1.3: a key that does not decode to a curve point can verify nothing;
  // say so at load time instead of failing every signature later. A small-order key
  // would accept forgeries, so it is refused too.
  const point = bytes === undefined ? undefined : decodePoint(bytes);
  if (point === undefined || isSmallOrder(point)) {
    throw new ConfigError(
      'PUBKEY_INVALID',
      `public key must be ${PUBLIC_KEY_BYTES * 2} hex characters encoding an Ed25519 point (docs/design.md §3.4)`,
      { details: { length: trimmed.length } },
    );
  }
  return bytes as Uint8Array;
}

/**
 * Raw 32-byte public key from a node:crypto Ed25519 KeyObject (public or private), so
 * callers holding a KeyObject can use the streaming verifier.
 */
export function publicKeyBytes(key: KeyObject | Uint8Array): Uint8Array {
  if (key instanceof Uint8Array) {
    if (key.length !== PUBLIC_KEY_BYTES) {
      throw new ConfigError('PUBKEY_INVALID', `public key must be ${PUBLIC_KEY_BYTES} bytes`);
    }
    return key;
  }
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError('PUBKEY_INVALID', 'public key is not an Ed25519 key', {
      details: { type: pub.asymmetricKeyType },
    });
  }
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new ConfigError('PUBKEY_INVALID', 'cannot export key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

/** The node:crypto KeyObject for raw public key bytes (for one-shot node verification). */
export function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** How a signature is written: 128 hex characters (default) or the 64 raw bytes. */
export type SignatureEncoding = 'hex' | 'raw';

function malformedSignature(length: number): VerificationError {
  return new VerificationError(
    'SIGNATURE_MALFORMED',
    `signature must be ${SIGNATURE_BYTES} raw bytes or ${SIGNATURE_BYTES * 2} hex characters`,
    { details: { length } },
  );
}

/**
 * Exactly 128 hex characters with no newline, or exactly 64 bytes: the two forms
 * docs/design.md §3.4 names, so an agent that does not trim whitespace still reads it.
 */
export function encodeSignature(signature: Uint8Array, encoding: SignatureEncoding): Buffer {
  return encoding === 'hex' ? Buffer.from(bytesToHex(signature), 'ascii') : Buffer.from(signature);
}

/** A signature written as hex text (a `.sig` file's text, an OCI annotation), trimmed. */
export function decodeSignatureHex(text: string): Uint8Array {
  const hex = text.trim();
  const decoded = hex.length === SIGNATURE_BYTES * 2 ? hexToBytes(hex) : undefined;
  if (decoded === undefined) throw malformedSignature(text.length);
  return decoded;
}

/**
 * Parse a `.sig` file: exactly 64 raw bytes, or 128 hex characters with surrounding
 * whitespace trimmed. Anything else is SIGNATURE_MALFORMED (exit 4).
 */
export function parseSignature(bytes: Uint8Array): Uint8Array {
  // Exactly 64 bytes is always the raw form: the hex form is at least 128 bytes.
  if (bytes.length === SIGNATURE_BYTES) return new Uint8Array(bytes);
  if (bytes.length > MAX_SIGNATURE_FILE_BYTES) throw malformedSignature(bytes.length);
  try {
    return decodeSignatureHex(Buffer.from(bytes).toString('latin1'));
  } catch {
    throw malformedSignature(bytes.length);
  }
}
