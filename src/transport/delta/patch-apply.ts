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
import { zstdDecompress } from 'node:zlib';
import { promisify } from 'node:util';
import type { CutParams, Piece } from './index-format.js';
import { compressUnitAsync } from './unit-codec.js';

const zstdDecompressAsync = promisify(zstdDecompress);

/**
 * The piece's bytes from a patch and its reference: the content is the patch
 * decompressed with the reference as a raw dictionary, of exactly the piece's content
 * length; a `raw` piece is its content, a `unit` is its content compressed as the
 * index's parameters say. Undefined when the patch does not decompress to that length.
 */
export async function rebuildPiece(
  patch: Uint8Array,
  reference: Uint8Array,
  piece: Piece,
  params: CutParams,
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
  if (piece.kind === 'unit' && params.mode !== 'cdc' && params.level > 0) {
    return compressUnitAsync(content, params.level);
  }
  return undefined;
}
