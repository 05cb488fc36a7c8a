/**
 * The set of Ed25519 public keys a device trusts (docs/configuration.md `pubkey`,
 * docs/operating.md "Rotating the signing key"): any one of them may sign a release.
 *
 * `pubkey` names either
 * - a file with one key per line (64 hex characters, docs/design.md §3.4), `#` comments
 *   (whole lines or after the key) and blank lines allowed; a one-key file of the old
 *   format is a key set of one; or
 * - a directory: every `*.pub` file in it, each such a file (other names and
 *   subdirectories are ignored, so a README or an editor's backup never becomes a key).
 *
 * Every read is bounded (src/fs/control-file.ts: regular files only, 4 KiB each, at
 * most MAX_KEY_FILES files); a malformed line is PUBKEY_INVALID naming file and line.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, ioFailure } from '../errors.js';
import { readControlText } from '../fs/control-file.js';
import { bytesToHex, keyFingerprint, parsePublicKey } from './keys.js';

/** One key file is at most this large (the single-key limit of docs/operating.md). */
const MAX_KEY_FILE_BYTES = 4096;
/** A key directory holds at most this many `*.pub` files. */
export const MAX_KEY_FILES = 64;
/** Bytes per key in a file formatKeySet writes: 64 hex characters and a newline. */
const KEY_LINE_BYTES = 65;
/** The most keys one key file can hold and still be read (63). */
export const MAX_KEYS_PER_FILE = Math.floor(MAX_KEY_FILE_BYTES / KEY_LINE_BYTES);

/**
 * The text of a key file holding `hexes` (64 lowercase hex each), one per line: what
 * cloud-init writes. Refuses a set the reader would refuse (more than MAX_KEYS_PER_FILE
 * keys, over MAX_KEY_FILE_BYTES), so a device is never handed a key file it cannot read.
 */
export function formatKeySet(hexes: readonly string[]): string {
  if (hexes.length > MAX_KEYS_PER_FILE) {
    throw new ConfigError(
      'PUBKEY_INVALID',
      `${hexes.length} keys do not fit one key file: at most ${MAX_KEYS_PER_FILE} (${MAX_KEY_FILE_BYTES} bytes); ` +
        'use a key directory (pubkey=/DIR of *.pub files) for more',
      { details: { keys: hexes.length, limit: MAX_KEYS_PER_FILE } },
    );
  }
  return hexes.map((hex) => `${hex}\n`).join('');
}

export interface TrustedKey {
  /** The 32-byte RFC 8032 public key. */
  key: Uint8Array;
  /** `file:line` it was read from, for messages. */
  source: string;
  /** Its fingerprint (./keys.ts keyFingerprint), to name the key in logs and output. */
  fingerprint: string;
}

/** Parse a key file's text. `source` names it in errors (`update.pub`). */
function parseKeySet(text: string, source: string): TrustedKey[] {
  const keys: TrustedKey[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const where = `${source}:${i + 1}`;
    let key: Uint8Array;
    try {
      key = parsePublicKey(line);
    } catch (err) {
      throw new ConfigError(
        'PUBKEY_INVALID',
        `${where}: not an Ed25519 public key (64 hex characters encoding a curve point, docs/design.md §3.4)`,
        { cause: err, details: { path: source, line: i + 1, length: line.length } },
      );
    }
    keys.push({ key, source: where, fingerprint: keyFingerprint(key) });
  }
  return keys;
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readControlText(path, { maxBytes: MAX_KEY_FILE_BYTES });
  } catch (err) {
    throw new ConfigError(
      'PUBKEY_UNREADABLE',
      `cannot read public key ${path}`,
      ioFailure(err, { path }),
    );
  }
}

async function keyFilesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => !e.isDirectory() && e.name.endsWith('.pub') && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new ConfigError(
      'PUBKEY_UNREADABLE',
      `cannot list the key directory ${dir}`,
      ioFailure(err, { path: dir }),
    );
  }
  if (names.length > MAX_KEY_FILES) {
    throw new ConfigError(
      'PUBKEY_UNREADABLE',
      `${dir} holds ${names.length} *.pub files; at most ${MAX_KEY_FILES} are read`,
      { details: { path: dir, files: names.length, limit: MAX_KEY_FILES } },
    );
  }
  return names.map((n) => join(dir, n));
}

/**
 * Load the key set `pubkey` names (file or directory). Duplicates are kept once; a set
 * with no key at all is PUBKEY_EMPTY: a device that trusts nothing would refuse every
 * release, and silently trusting everything instead is what a key set must never do.
 */
export async function loadKeySet(path: string): Promise<TrustedKey[]> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    // Reported by the read below, with the file's own errno.
  }
  const files = isDir ? await keyFilesIn(path) : [path];
  const seen = new Set<string>();
  const keys: TrustedKey[] = [];
  for (const file of files) {
    for (const k of parseKeySet(await readKeyFile(file), file)) {
      const hex = bytesToHex(k.key);
      if (seen.has(hex)) continue;
      seen.add(hex);
      keys.push(k);
    }
  }
  if (keys.length === 0) {
    throw new ConfigError(
      'PUBKEY_EMPTY',
      isDir
        ? `${path} holds no *.pub file with a key`
        : `${path} holds no key (only comments or blank lines)`,
      { details: { path } },
    );
  }
  return keys;
}
