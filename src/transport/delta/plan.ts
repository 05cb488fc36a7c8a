/**
 * What a device does for each piece of the new image (docs/delta.md "On the device"):
 * copy it from an image it holds, rebuild it from a patch, or fetch it; and the HTTP
 * ranges that fetch the rest (neighbours merged, each range one single-range
 * request). Pure: `check` prints it, `apply` carries it out (./assemble.ts).
 */
import type { DeltaIndex, PatchBase, PatchEntry, Piece } from './index-format.js';

/** An image the device holds and what the cut of it found (the seed's own index). */
export interface SeedImage {
  /** What the image is, for logs: `running`, `passive`. */
  label: string;
  path: string;
  index: DeltaIndex;
}

export type PieceSource =
  | { kind: 'held'; seed: number; piece: Piece }
  | { kind: 'patch'; entry: PatchEntry; packOffset: number }
  | { kind: 'fetch'; range: number };

export interface FetchRange {
  /** Image offsets, end exclusive. */
  start: number;
  end: number;
  /** The first and last piece (inclusive) it carries. */
  first: number;
  last: number;
}

export interface DeltaPlan {
  sources: PieceSource[];
  ranges: FetchRange[];
  /** The base whose patches are used, if any. */
  base: PatchBase | undefined;
  bytes: { held: number; patched: number; fetched: number; pack: number; image: number };
  pieces: { held: number; patched: number; fetched: number };
}

/** Missing pieces closer than this are fetched in one range, the bytes between them too. */
const MERGE_GAP_BYTES = 4096;
/** No range carries more than this (a device holds one range in memory at most once). */
const MAX_RANGE_BYTES = 8 * 1024 * 1024;

export function planDelta(index: DeltaIndex, seeds: readonly SeedImage[]): DeltaPlan {
  // What the device holds: every piece of every seed, by digest (the first seed wins).
  const held = new Map<string, { seed: number; piece: Piece }>();
  seeds.forEach((s, seed) => {
    for (const piece of s.index.pieces)
      if (!held.has(piece.sha256)) held.set(piece.sha256, { seed, piece });
  });
  // Patches from the first seed that is a base of this image (the running image first).
  const seedShas = seeds.map((s) => s.index.imageSha256);
  const base = seedShas
    .map((sha) => index.bases.find((b) => b.imageSha256 === sha))
    .find((b) => b !== undefined);
  const patches = new Map<number, { entry: PatchEntry; packOffset: number }>();
  if (base !== undefined) {
    let at = 0;
    for (const entry of base.entries) {
      patches.set(entry.piece, { entry, packOffset: at });
      at += entry.length;
    }
  }
  const sources: PieceSource[] = [];
  const ranges: FetchRange[] = [];
  const bytes = { held: 0, patched: 0, fetched: 0, pack: 0, image: index.imageSize };
  const pieces = { held: 0, patched: 0, fetched: 0 };
  index.pieces.forEach((piece, i) => {
    const h = held.get(piece.sha256);
    if (h !== undefined && h.piece.length === piece.length) {
      sources.push({ kind: 'held', seed: h.seed, piece: h.piece });
      bytes.held += piece.length;
      pieces.held++;
      return;
    }
    const p = patches.get(i);
    if (p !== undefined) {
      sources.push({ kind: 'patch', ...p });
      bytes.patched += piece.length;
      pieces.patched++;
      return;
    }
    pieces.fetched++;
    const last = ranges.at(-1);
    if (
      last !== undefined &&
      piece.offset - last.end <= MERGE_GAP_BYTES &&
      piece.offset + piece.length - last.start <= MAX_RANGE_BYTES
    ) {
      last.end = piece.offset + piece.length;
      last.last = i;
    } else {
      ranges.push({ start: piece.offset, end: piece.offset + piece.length, first: i, last: i });
    }
    sources.push({ kind: 'fetch', range: ranges.length - 1 });
  });
  bytes.fetched = ranges.reduce((s, r) => s + r.end - r.start, 0);
  // Only the pack of a base that rebuilds something is fetched.
  const usedBase = pieces.patched > 0 ? base : undefined;
  bytes.pack = usedBase?.pack.size ?? 0;
  return { sources, ranges, base: usedBase, bytes, pieces };
}
