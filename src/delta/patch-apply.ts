/**
 * The device's half of patches (docs/delta.md "Patches"): a piece rebuilt from its
 * patch and the bytes of the running image the patch references. The result is the
 * piece's published bytes or nothing; the caller checks its SHA-256 against the index
 * (a rebuild that does not match is fetched instead, never written). The publisher
 * keeps a patch only if this same function rebuilds it (./patch-make.ts).
 *
 * zlib and zstd run on libuv's thread pool: rebuilds side by side use the machine's
 * cores while the main thread writes.
 */
import { promisify } from 'node:util';
import { constants as Z, deflateRaw, inflateRaw, zstdDecompress } from 'node:zlib';
import { FINAL_BLOCK } from './cut.js';
import type { Piece } from './index-format.js';

const zstdDecompressAsync = promisify(zstdDecompress);
const deflateRawAsync = promisify(deflateRaw);
const inflateRawAsync = promisify(inflateRaw);

/**
 * The piece's bytes from a patch and its reference: the content is the patch
 * decompressed with the reference as a raw dictionary, of exactly the piece's content
 * length; a `raw` piece is its content, a `unit` is its content deflated at `level`.
 * Undefined when the patch does not decompress to that length.
 */
export async function rebuildPiece(
  patch: Uint8Array,
  reference: Uint8Array,
  piece: Piece,
  level: number,
): Promise<Buffer | undefined> {
  let content: Buffer;
  try {
    content = await zstdDecompressAsync(patch, {
      dictionary: reference,
      maxOutputLength: piece.contentLength,
    });
  } catch {
    return undefined;
  }
  if (content.length !== piece.contentLength) return undefined;
  if (piece.kind === 'raw') return content;
  if (piece.kind === 'unit' && level > 0) {
    return deflateRawAsync(content, { level, finishFlush: Z.Z_FULL_FLUSH });
  }
  return undefined;
}

/** A unit's content (./cut.ts inflateUnit), off the main thread. */
export function inflateUnitAsync(bytes: Uint8Array, maxOutputLength: number): Promise<Buffer> {
  return inflateRawAsync(Buffer.concat([bytes, FINAL_BLOCK]), { maxOutputLength });
}
