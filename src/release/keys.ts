/**
 * Ed25519 release key files (docs/design.md §3.4): generating a pair, writing it, and
 * loading the private key. The public key is written in the agent's format, the raw
 * 32-byte key (RFC 8032 §5.1.5) as 64 hex characters, by the one key codec
 * (src/crypto/keys.ts), which also reads it back. The private key is a standard
 * PKCS#8 PEM file, so `openssl pkeyutl` and other tools can use it too.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, OperationError, UsageError, errnoCode } from '../errors.js';
import { bytesToHex, publicKeyBytes } from '../crypto/keys.js';
import { atomicWriteFile } from '../fs/atomic.js';

const PRIVATE_KEY_FILE = 'release.key';
const PUBLIC_KEY_FILE = 'release.pub';

export interface GeneratedKeyPair {
  privateKey: KeyObject;
  /** 64 lowercase hex characters: the raw 32-byte public key. */
  publicKeyHex: string;
  privateKeyPem: string;
}

export function generateKeyPair(): GeneratedKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    publicKeyHex: bytesToHex(publicKeyBytes(privateKey)),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    // ENOTDIR: a file is in the way of the directory, so no key exists there; the
    // write below then fails with KEY_WRITE_FAILED instead of an unexpected error.
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

export interface WrittenKeyPair {
  privateKeyPath: string;
  publicKeyPath: string;
  publicKeyHex: string;
}

/**
 * Write a new key pair into `dir` (created if missing). The private key is created
 * with mode 0600 from the first byte (never world-readable, even briefly). Existing
 * files are kept unless `force`: overwriting a release key by accident locks a fleet
 * out of every future update.
 */
export async function writeKeyPair(
  dir: string,
  options: { force?: boolean } = {},
): Promise<WrittenKeyPair> {
  const privateKeyPath = join(dir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(dir, PUBLIC_KEY_FILE);
  if (!options.force) {
    for (const path of [privateKeyPath, publicKeyPath]) {
      if (await exists(path)) {
        throw new UsageError('KEY_EXISTS', `${path} exists; use --force to overwrite it`, {
          details: { path },
        });
      }
    }
  }
  const pair = generateKeyPair();
  try {
    await atomicWriteFile(privateKeyPath, pair.privateKeyPem, { mode: 0o600, mkdirp: true });
    await atomicWriteFile(publicKeyPath, pair.publicKeyHex + '\n', { mode: 0o644 });
  } catch (err) {
    throw new OperationError('KEY_WRITE_FAILED', `cannot write the key pair to ${dir}`, {
      cause: err,
      details: { dir },
    });
  }
  return { privateKeyPath, publicKeyPath, publicKeyHex: pair.publicKeyHex };
}

/** Load a PKCS#8 PEM (or DER) Ed25519 private key. */
export async function loadPrivateKey(path: string): Promise<KeyObject> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new ConfigError('KEY_UNREADABLE', `cannot read the private key ${path}`, {
      cause: err,
      details: { path },
    });
  }
  let key: KeyObject;
  try {
    const pem = data.includes('-----BEGIN');
    key = pem
      ? createPrivateKey({ key: data, format: 'pem' })
      : createPrivateKey({ key: data, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new ConfigError('KEY_INVALID', `${path} is not a PKCS#8 private key`, {
      cause: err,
      details: { path },
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(
      'KEY_NOT_ED25519',
      `${path} is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`,
      { details: { path } },
    );
  }
  return key;
}
