/**
 * An image's content stream (docs/delta.md "Patches"): its pieces' contents one after
 * the other (raw bytes as they are, units inflated, opaque pieces nothing), which for
 * a repacked initramfs is the uncompressed cpio. Patch references address it, so both
 * sides compute it from the index alone: `contentStarts` gives where each piece's
 * content begins.
 */
import type { CutParams, Piece } from './index-format.js';
import { unitContent } from './unit-codec.js';

/** Where each piece's content starts in the content stream, and the stream's length. */
export function contentStarts(pieces: readonly Piece[]): { starts: number[]; total: number } {
  const starts = new Array<number>(pieces.length);
  let at = 0;
  pieces.forEach((p, i) => {
    starts[i] = at;
    at += p.contentLength;
  });
  return { starts, total: at };
}

/**
 * The index of the last of `starts` (ascending) at or before `at`, by binary search;
 * 0 when none is (or `starts` is empty).
 */
export function lastStartAtOrBefore(starts: readonly number[], at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The piece whose content holds content offset `at` (the last piece starting at or before it). */
export function pieceAtContent(
  starts: readonly number[],
  pieces: readonly Piece[],
  at: number,
): number {
  let lo = lastStartAtOrBefore(starts, at);
  // Skip empty (opaque) pieces that start at the same offset.
  while (lo < pieces.length - 1 && pieces[lo]!.contentLength === 0) lo++;
  return lo;
}

/** One piece's content from its bytes. */
function pieceContent(params: CutParams, piece: Piece, bytes: Buffer): Buffer {
  if (piece.kind === 'raw') return bytes;
  if (piece.kind === 'unit' && params.mode !== 'cdc') {
    return unitContent(bytes, piece.contentLength);
  }
  return Buffer.alloc(0);
}

/** The whole content stream of an image held in memory (the publisher's side). */
export function contentStream(image: Buffer, params: CutParams, pieces: readonly Piece[]): Buffer {
  return Buffer.concat(
    pieces.map((p) => pieceContent(params, p, image.subarray(p.offset, p.offset + p.length))),
  );
}
