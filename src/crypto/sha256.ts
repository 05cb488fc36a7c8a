/** Streaming SHA-256 (docs/design.md §3.3: `*_sha256` fields are lowercase hex digests). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface FileDigestOptions {
  /** Hash only the first `length` bytes (resume re-hashes the existing prefix). */
  length?: number;
  /** Also receives every chunk read (e.g. an Ed25519 stream verifier). */
  onChunk?: (chunk: Uint8Array) => void;
  signal?: AbortSignal;
}

/**
 * Hash a file (or its first `length` bytes) without loading it into memory. Returns
 * the hex digest and how many bytes were read, which is less than `length` only if
 * the file is shorter.
 */
export async function sha256File(
  path: string,
  options: FileDigestOptions = {},
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  if (options.length === 0) return { sha256: hash.digest('hex'), bytes };
  const stream = createReadStream(path, {
    highWaterMark: 1024 * 1024,
    ...(options.length === undefined ? {} : { end: options.length - 1 }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    options.onChunk?.(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Compare two hex digests case-insensitively. */
export function sameDigest(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
