/**
 * Detached Ed25519 signatures (docs/design.md §3.4): pure Ed25519 (RFC 8032 §5.1.6, not the
 * prehashed Ed25519ph) over the exact bytes of the file as it will be served. A `.sig`
 * file holds the 64-byte signature as 128 hex characters (default) or raw.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { encodeSignature, type SignatureEncoding } from '../crypto/keys.js';
import { OperationError } from '../errors.js';
import { atomicWriteFile } from '../fs/atomic.js';

/**
 * Sign `data`. Node's one-shot `crypto.sign` with a `null` algorithm is pure Ed25519;
 * Ed25519 needs the whole message twice (RFC 8032 §5.1.6 steps 2 and 4), so there is
 * no streaming form, and the file is read into memory on the build machine.
 */
export function signBytes(key: KeyObject, data: Uint8Array): Buffer {
  return cryptoSign(null, data, key);
}

export function verifyBytes(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  return signature.length === 64 && cryptoVerify(null, data, key, signature);
}

export interface SignedFile {
  path: string;
  sigPath: string;
  signature: Buffer;
}

/** Sign one file and write `<file>.sig` atomically next to it (or at `sigPath`). */
export async function signFile(
  key: KeyObject,
  path: string,
  options: { encoding?: SignatureEncoding; sigPath?: string } = {},
): Promise<SignedFile> {
  const sigPath = options.sigPath ?? `${path}.sig`;
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new OperationError('FILE_UNREADABLE', `cannot read ${path}`, {
      cause: err,
      details: { path },
    });
  }
  const signature = signBytes(key, data);
  try {
    await atomicWriteFile(sigPath, encodeSignature(signature, options.encoding ?? 'hex'));
  } catch (err) {
    throw new OperationError('SIGNATURE_WRITE_FAILED', `cannot write ${sigPath}`, {
      cause: err,
      details: { path: sigPath },
    });
  }
  return { path, sigPath, signature };
}
