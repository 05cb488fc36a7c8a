/**
 * INTERIM: stand-ins for src/metadata, src/crypto and the HTTP download primitive,
 * which land from another change. Replaced by imports of those modules.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import { OperationError, VerificationError } from '../../errors.js';
import type { ReleaseMetadata } from '../../metadata/types.js';

export function parseReleaseMetadataInterim(bytes: Buffer): ReleaseMetadata {
  if (bytes.length > 64 * 1024) {
    throw new VerificationError('METADATA_TOO_LARGE', 'metadata larger than 64 KiB');
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new VerificationError('METADATA_MALFORMED', 'latest.json is not JSON', { cause: err });
  }
  const s = (k: string) => (typeof doc[k] === 'string' ? doc[k] : undefined);
  const version = s('version');
  const vs = s('vmlinuz_sha256');
  const is = s('initramfs_sha256');
  if (!version || !vs || !is) {
    throw new VerificationError('METADATA_MALFORMED', 'latest.json lacks required fields');
  }
  return {
    version,
    vmlinuzUrl: s('vmlinuz_url') ?? '',
    vmlinuzSha256: vs.toLowerCase(),
    initramfsUrl: s('initramfs_url') ?? '',
    initramfsSha256: is.toLowerCase(),
    ...(s('channel') ? { channel: s('channel') } : {}),
    ...(s('architecture') ? { architecture: s('architecture') } : {}),
    ...(s('min_compatible_version') ? { minCompatibleVersion: s('min_compatible_version') } : {}),
    ...(s('release_notes') ? { releaseNotes: s('release_notes') } : {}),
    ...(s('release_date') ? { releaseDate: s('release_date') } : {}),
    ...(s('expires') ? { expires: s('expires') } : {}),
    ...(typeof doc.vmlinuz_size === 'number' ? { vmlinuzSize: doc.vmlinuz_size } : {}),
    ...(typeof doc.initramfs_size === 'number' ? { initramfsSize: doc.initramfs_size } : {}),
  };
}

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

export function verifyEd25519Interim(publicKey: Buffer, message: Buffer, sig: Buffer): boolean {
  const key = createPublicKey({
    key: Buffer.concat([SPKI_ED25519, publicKey]),
    format: 'der',
    type: 'spki',
  });
  return sig.length === 64 && verify(null, message, key, sig);
}

export async function verifyFileEd25519Interim(
  publicKey: Buffer,
  path: string,
  sig: Buffer,
): Promise<boolean> {
  return verifyEd25519Interim(publicKey, await readFile(path), sig);
}

export interface InterimDownload {
  url: string;
  headers: Record<string, string>;
  dest: string;
  sha256: string;
  maxBytes: number;
  dispatcher?: Dispatcher | undefined;
  signal?: AbortSignal | undefined;
  onBytes?: (received: number) => void;
}

export async function downloadInterim(d: InterimDownload): Promise<{ size: number }> {
  await mkdir(join(d.dest, '..'), { recursive: true });
  const part = d.dest + '.part';
  const res = await request(d.url, {
    headers: d.headers,
    dispatcher: d.dispatcher,
    signal: d.signal,
  });
  if (res.statusCode === 404) {
    await res.body.dump();
    throw new OperationError('OCI_BLOB_NOT_FOUND', `blob missing at ${d.url}`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new OperationError('DOWNLOAD_FAILED', `HTTP ${res.statusCode} for ${d.url}`);
  }
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      size += chunk.length;
      if (size > d.maxBytes) {
        cb(new VerificationError('SIZE_LIMIT_EXCEEDED', `download exceeds ${d.maxBytes} bytes`));
        return;
      }
      hash.update(chunk);
      d.onBytes?.(size);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(res.body, meter, createWriteStream(part));
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  }
  const actual = hash.digest('hex');
  if (actual !== d.sha256) {
    await rm(part, { force: true });
    throw new VerificationError('CHECKSUM_MISMATCH', `sha256 ${actual}, expected ${d.sha256}`);
  }
  await rename(part, d.dest);
  return { size };
}
