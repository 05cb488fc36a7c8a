/**
 * The publisher's half of patches (docs/delta.md "Patches"): for an earlier release's
 * image (a base) and the new one, a patch pack that rebuilds the new pieces the base
 * lacks from bytes the base holds.
 *
 * A piece of the new image is patched when its content is not among the base's pieces
 * and it can be rebuilt (`raw`, or a `unit` of an index with a deflate level). Its
 * reference is what the base holds of the same files: each cpio entry the piece
 * touches, found in the base by path (a kernel's module directory,
 * lib/modules/<release>/, compared without the release), whole when it is small,
 * else the bytes around the same place. The patch is a zstd frame of the piece's
 * content with that reference as a raw dictionary (`zstd --patch-from`, per piece).
 * Every patch is checked the way a device rebuilds it (./patch-apply.ts) before it is
 * kept, and kept only when it is smaller than the piece.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { constants as Z, zstdCompress } from 'node:zlib';
import { contentStarts, contentStream, lastStartAtOrBefore } from './content.js';
import {
  MAX_REFERENCE_BYTES,
  type DeltaIndex,
  type PatchBase,
  type PatchEntry,
  type PatchSpan,
} from './index-format.js';
import { walkNewc, type NewcEntry } from './newc.js';
import { rebuildPiece } from './patch-apply.js';

const zstdCompressAsync = promisify(zstdCompress);

const DEFAULT_PATCH_LEVEL = 19;
/** An entry up to this size is referenced whole; a larger one by the bytes around the piece. */
const WHOLE_ENTRY_BYTES = 1024 * 1024;
const WINDOW_BYTES = 256 * 1024;
/** Patches compressed at once (zstd runs on libuv's thread pool). */
const IN_FLIGHT = 4;
/** What a patch entry costs in the index beyond its bytes (entry + one span). */
const ENTRY_OVERHEAD = 24;

/** A path as it is compared across releases: a kernel's module tree without its release. */
function comparablePath(name: string): string {
  return name.replace(/^(\.\/)?((usr\/)?lib\/modules\/)[^/]+\//, '$2*/');
}

export interface PatchInput {
  image: Buffer;
  index: DeltaIndex;
}

export interface MadePatches {
  base: PatchBase;
  pack: Buffer;
  /** Pieces the base lacks that no patch rebuilds (fetched whole by a device). */
  unpatched: number;
}

/**
 * Patches that rebuild `next`'s pieces from `base`. `packFile` is the pack's file name
 * next to the index; `version` names the base's release.
 */
export async function makePatches(
  next: PatchInput,
  base: PatchInput,
  options: { packFile: string; version: string; level?: number },
): Promise<MadePatches> {
  const level = options.level ?? DEFAULT_PATCH_LEVEL;
  const held = new Set(base.index.pieces.map((p) => p.sha256));
  const nextContent = contentStream(next.image, next.index.params, next.index.pieces);
  const baseContent = contentStream(base.image, base.index.params, base.index.pieces);
  const nextStarts = contentStarts(next.index.pieces).starts;
  const nextEntries = walkNewc(nextContent, 0).entries;
  const baseByPath = new Map<string, NewcEntry>();
  for (const e of walkNewc(baseContent, 0).entries) baseByPath.set(comparablePath(e.name), e);
  const entryStarts = nextEntries.map((e) => e.offset);

  const rebuildable = (i: number) => {
    const p = next.index.pieces[i]!;
    return p.kind === 'raw' || (p.kind === 'unit' && next.index.params.level > 0);
  };
  const candidates: { piece: number; spans: PatchSpan[] }[] = [];
  let unpatched = 0;
  next.index.pieces.forEach((p, i) => {
    if (held.has(p.sha256)) return;
    if (!rebuildable(i)) {
      unpatched++;
      return;
    }
    const from = nextStarts[i]!;
    const spans = referenceFor(from, from + p.contentLength, nextEntries, entryStarts, baseByPath);
    if (spans.length === 0) unpatched++;
    else candidates.push({ piece: i, spans });
  });

  // Compress side by side, keep in piece order.
  const made: ({ entry: PatchEntry; patch: Buffer } | undefined)[] = [];
  const pending: Promise<{ entry: PatchEntry; patch: Buffer } | undefined>[] = [];
  const one = async (c: { piece: number; spans: PatchSpan[] }) => {
    const piece = next.index.pieces[c.piece]!;
    const content = nextContent.subarray(
      nextStarts[c.piece],
      nextStarts[c.piece]! + piece.contentLength,
    );
    const dictionary = Buffer.concat(
      c.spans.map((s) => baseContent.subarray(s.offset, s.offset + s.length)),
    );
    const patch = await zstdCompressAsync(content, {
      dictionary,
      params: { [Z.ZSTD_c_compressionLevel]: level, [Z.ZSTD_c_checksumFlag]: 0 },
    });
    if (patch.length + ENTRY_OVERHEAD + 12 * (c.spans.length - 1) >= piece.length) return undefined;
    // Kept only if it rebuilds the piece exactly as a device will.
    const rebuilt = await rebuildPiece(patch, dictionary, piece, next.index.params);
    const bytes = next.image.subarray(piece.offset, piece.offset + piece.length);
    if (rebuilt === undefined || !rebuilt.equals(bytes)) return undefined;
    return { entry: { piece: c.piece, length: patch.length, spans: c.spans }, patch };
  };
  for (const c of candidates) {
    pending.push(one(c));
    if (pending.length >= IN_FLIGHT) made.push(await pending.shift()!);
  }
  while (pending.length > 0) made.push(await pending.shift()!);

  const kept = made.filter((m): m is { entry: PatchEntry; patch: Buffer } => m !== undefined);
  unpatched += made.length - kept.length;
  const pack = Buffer.concat(kept.map((k) => k.patch));
  return {
    base: {
      imageSha256: base.index.imageSha256,
      imageSize: base.index.imageSize,
      version: options.version,
      pack: {
        file: options.packFile,
        size: pack.length,
        sha256: createHash('sha256').update(pack).digest('hex'),
      },
      entries: kept.map((k) => k.entry),
    },
    pack,
    unpatched,
  };
}

/**
 * The base's bytes a piece with content [from, to) is patched against: for each entry
 * it touches, the same entry in the base (whole, or the window around the same place),
 * merged, in base order, at most MAX_REFERENCE_BYTES.
 */
function referenceFor(
  from: number,
  to: number,
  entries: NewcEntry[],
  entryStarts: number[],
  baseByPath: Map<string, NewcEntry>,
): PatchSpan[] {
  const ranges: [number, number][] = [];
  // The first entry that ends after `from` is the last one starting at or before it, or later.
  const first = lastStartAtOrBefore(entryStarts, from);
  for (let k = first; k < entries.length && entries[k]!.offset < to; k++) {
    const e = entries[k]!;
    if (e.end <= from) continue;
    const old = baseByPath.get(comparablePath(e.name));
    if (old === undefined) continue;
    const oldLength = old.end - old.offset;
    if (oldLength <= WHOLE_ENTRY_BYTES) {
      ranges.push([old.offset, old.end]);
    } else {
      const rel = Math.max(from, e.offset) - e.offset;
      const part = Math.min(to, e.end) - Math.max(from, e.offset);
      ranges.push([
        old.offset + Math.max(0, rel - WINDOW_BYTES),
        old.offset + Math.min(oldLength, rel + part + WINDOW_BYTES),
      ]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([...r]);
  }
  const spans: PatchSpan[] = [];
  let total = 0;
  for (const [a, b] of merged) {
    const length = Math.min(b - a, MAX_REFERENCE_BYTES - total);
    if (length <= 0 || spans.length >= 64) break;
    spans.push({ offset: a, length });
    total += length;
  }
  return spans;
}
