/**
 * Writing the new image from what the device holds, what it rebuilds and what it
 * fetches (docs/delta.md "On the device"), in image order, into the download's partial
 * file: every piece is checked against the pinned index before a byte of it is
 * written, then fed to the same hashers, signature check, batched writer and trailing
 * read-back a full download uses (src/transport/download/), so the end is today's end:
 * the whole file's SHA-256 and signature, fsync, rename, read-back.
 *
 * Pieces come from three places, prepared ahead of the writer:
 *   - held: read from a seed image (the running slot's, the passive slot's old one);
 *     one that no longer matches (bit rot) is fetched instead;
 *   - patched: rebuilt from the patch pack and the base image's content, a few at a
 *     time on the thread pool; one that does not rebuild exactly is fetched instead;
 *   - fetched: a few single-range requests in flight, at most MAX_BUFFERED bytes held;
 *     a fetched piece that does not match the index stops the delta
 *     (DELTA_PIECE_MISMATCH): the server does not serve what the index describes.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { VerificationError } from '../../errors.js';
import { readAt } from '../../fs/read-at.js';
import { GarbagePacer } from '../download/memory.js';
import { stagingError, type Transfer } from '../download/transfer.js';
import { contentStarts, pieceAtContent } from './content.js';
import type { DeltaIndex, PatchEntry, Piece } from './index-format.js';
import { rebuildPiece } from './patch-apply.js';
import { unitContentAsync } from './unit-codec.js';
import type { DeltaPlan, FetchRange } from './plan.js';
import { fetchRange, type RangeContext } from './ranges.js';

/** Ranges in flight at once: a few requests, as the issue asks, and no more. */
const RANGE_CONCURRENCY = 4;
/** Bytes of fetched ranges held at once, waiting for the writer. */
const MAX_BUFFERED = 32 * 1024 * 1024;
/** Patched pieces rebuilt ahead of the writer. */
const REBUILD_AHEAD = 4;
/** Base-image content (inflated units) kept for the next references. */
const CONTENT_CACHE_BYTES = 32 * 1024 * 1024;

export interface OpenSeed {
  label: string;
  handle: FileHandle;
  index: DeltaIndex;
}

export interface AssembleInput {
  transfer: Transfer;
  index: DeltaIndex;
  plan: DeltaPlan;
  seeds: OpenSeed[];
  /** The verified patch pack of `plan.base`, when it rebuilds anything. */
  pack: FileHandle | undefined;
  range: RangeContext;
  /** Pieces before this one are already in the partial file (a resumed run). */
  startPiece: number;
}

export interface AssembleStats {
  /** Pieces that had to be fetched after all: a seed's bytes had changed, or a rebuild failed. */
  heldRepaired: number;
  rebuildRepaired: number;
  /** Bytes of pieces rebuilt from patches, and copied from seeds. */
  rebuiltBytes: number;
  heldBytes: number;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Exactly `length` bytes at `offset` of a seed or pack; a shorter file is an error (ESHORT). */
async function readExactly(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = await readAt(handle, offset, length);
  if (buf.length < length) {
    throw Object.assign(new Error('seed ended early'), { code: 'ESHORT' });
  }
  return buf;
}

function pieceMismatch(piece: number, p: Piece, url: string): VerificationError {
  return new VerificationError(
    'DELTA_PIECE_MISMATCH',
    `piece ${piece} (bytes ${p.offset}-${p.offset + p.length - 1}) of ${url} does not match the index`,
    { details: { piece, offset: p.offset, length: p.length, url } },
  );
}

/** Fetched ranges, started ahead of the writer, bounded in count and bytes. */
class RangePrefetch {
  readonly #started = new Map<number, Promise<Buffer>>();
  #next: number;
  #buffered = 0;

  constructor(
    private readonly ranges: FetchRange[],
    private readonly ctx: RangeContext,
    firstPiece: number,
  ) {
    this.#next = ranges.findIndex((r) => r.last >= firstPiece);
    if (this.#next < 0) this.#next = ranges.length;
    this.#fill();
  }

  #fill(): void {
    while (
      this.#next < this.ranges.length &&
      this.#started.size < RANGE_CONCURRENCY &&
      (this.#buffered === 0 || this.#buffered + this.#size(this.#next) <= MAX_BUFFERED)
    ) {
      const r = this.ranges[this.#next]!;
      const p = fetchRange(this.ctx, r.start, r.end);
      p.catch(() => undefined); // reported when the writer asks for it
      this.#started.set(this.#next, p);
      this.#buffered += r.end - r.start;
      this.#next++;
    }
  }

  #size(i: number): number {
    const r = this.ranges[i]!;
    return r.end - r.start;
  }

  get(i: number): Promise<Buffer> {
    const p = this.#started.get(i);
    if (p === undefined) throw new Error(`range ${i} was not started`); // the writer goes in order
    return p;
  }

  /** The writer is past range i: let its bytes go, start the next. */
  release(i: number): void {
    if (this.#started.delete(i)) this.#buffered -= this.#size(i);
    this.#fill();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#started.values());
  }
}

/**
 * The base image's content by piece, inflated on demand, the most recent kept. A piece
 * asked for by rebuilds running side by side is inflated once (the promise is kept).
 */
class BaseContent {
  readonly #starts: number[];
  readonly #cache = new Map<number, Promise<Buffer>>();
  readonly #sizes = new Map<number, number>();
  #cached = 0;

  constructor(private readonly seed: OpenSeed) {
    this.#starts = contentStarts(seed.index.pieces).starts;
  }

  #piece(k: number): Promise<Buffer> {
    const hit = this.#cache.get(k);
    if (hit !== undefined) return hit;
    const p = this.seed.index.pieces[k]!;
    const mode = this.seed.index.params.mode;
    const content = readExactly(this.seed.handle, p.offset, p.length).then((bytes) =>
      p.kind === 'raw'
        ? bytes
        : p.kind === 'unit' && mode !== 'cdc'
          ? unitContentAsync(bytes, p.contentLength)
          : Buffer.alloc(0),
    );
    this.#cache.set(k, content);
    this.#sizes.set(k, p.contentLength);
    this.#cached += p.contentLength;
    // A failed read is not kept: the next patch asks again.
    content.catch(() => this.#forget(k));
    for (const key of this.#cache.keys()) {
      if (this.#cached <= CONTENT_CACHE_BYTES || key === k) break;
      this.#forget(key);
    }
    return content;
  }

  #forget(k: number): void {
    if (!this.#cache.delete(k)) return;
    this.#cached -= this.#sizes.get(k) ?? 0;
    this.#sizes.delete(k);
  }

  /** The reference of a patch: its spans of the base's content stream, one after the other. */
  async reference(entry: PatchEntry): Promise<Buffer> {
    const parts: Buffer[] = [];
    const pieces = this.seed.index.pieces;
    for (const span of entry.spans) {
      let at = span.offset;
      const end = span.offset + span.length;
      let k = pieceAtContent(this.#starts, pieces, at);
      while (at < end && k < pieces.length) {
        const start = this.#starts[k]!;
        const content = await this.#piece(k);
        if (content.length !== pieces[k]!.contentLength) throw new Error('base content changed');
        const from = at - start;
        const to = Math.min(end - start, content.length);
        if (from < 0 || from >= to) throw new Error('span outside the base content');
        parts.push(content.subarray(from, to));
        at = start + to;
        k++;
      }
      if (at < end) throw new Error('span past the base content');
    }
    return Buffer.concat(parts);
  }
}

export async function assemble(input: AssembleInput): Promise<AssembleStats> {
  const { transfer: t, index, plan, seeds, range } = input;
  const stats: AssembleStats = {
    heldRepaired: 0,
    rebuildRepaired: 0,
    rebuiltBytes: 0,
    heldBytes: 0,
  };
  const url = t.redactedUrl;
  const writer = t.newWriter(t.handle!);
  const prefetch = new RangePrefetch(plan.ranges, range, input.startPiece);
  const baseSeed =
    plan.base === undefined
      ? undefined
      : seeds.find((s) => s.index.imageSha256 === plan.base!.imageSha256);
  const base = baseSeed === undefined ? undefined : new BaseContent(baseSeed);

  // A piece fetched on its own (a seed's bytes changed, a rebuild failed).
  const repair = async (i: number): Promise<Buffer> => {
    const p = index.pieces[i]!;
    const bytes = await fetchRange(range, p.offset, p.offset + p.length);
    if (sha256(bytes) !== p.sha256) throw pieceMismatch(i, p, url);
    return bytes;
  };

  // Rebuilds run ahead of the writer; a failed one turns into a repair at once.
  const rebuilds = new Map<number, Promise<Buffer>>();
  let ahead = input.startPiece;
  const rebuildAhead = (from: number) => {
    if (ahead < from) ahead = from;
    while (ahead < index.pieces.length && rebuilds.size < REBUILD_AHEAD) {
      const src = plan.sources[ahead]!;
      const i = ahead++;
      if (src.kind !== 'patch') continue;
      const job = (async () => {
        const p = index.pieces[i]!;
        try {
          if (base === undefined || input.pack === undefined) throw new Error('no base');
          const patch = await readExactly(input.pack, src.packOffset, src.entry.length);
          const rebuilt = await rebuildPiece(
            patch,
            await base.reference(src.entry),
            p,
            index.params,
          );
          if (rebuilt !== undefined && sha256(rebuilt) === p.sha256) {
            stats.rebuiltBytes += rebuilt.length;
            return rebuilt;
          }
        } catch {
          // Whatever went wrong, the piece is fetched: the index says what it must be.
        }
        stats.rebuildRepaired++;
        return repair(i);
      })();
      job.catch(() => undefined); // reported when the writer reaches it
      rebuilds.set(i, job);
    }
  };

  // Every piece is a fresh buffer (a seed read, a rebuild, a range): collect them young,
  // as a download does (src/transport/download/memory.ts), so memory stays flat.
  const pacer = new GarbagePacer();
  const write = async (bytes: Buffer) => {
    pacer.add(bytes.length);
    t.sha.update(bytes);
    const verifierFull = t.ed?.update(bytes) ?? false;
    const writerFull = writer.enqueue(bytes);
    t.offset += bytes.length;
    t.progress(false);
    if (verifierFull) await t.ed!.ready();
    if (writerFull) await writer.ready();
  };

  try {
    for (let i = input.startPiece; i < index.pieces.length; i++) {
      t.run$.signal.throwIfAborted();
      rebuildAhead(i);
      const p = index.pieces[i]!;
      const src = plan.sources[i]!;
      let bytes: Buffer;
      if (src.kind === 'held') {
        const seed = seeds[src.seed]!;
        const held = await readExactly(seed.handle, src.piece.offset, p.length).catch(
          () => undefined,
        );
        if (held !== undefined && sha256(held) === p.sha256) {
          bytes = held;
          stats.heldBytes += held.length;
        } else {
          stats.heldRepaired++;
          bytes = await repair(i);
        }
      } else if (src.kind === 'patch') {
        const job = rebuilds.get(i)!;
        rebuilds.delete(i);
        bytes = await job;
      } else {
        const r = plan.ranges[src.range]!;
        const body = await prefetch.get(src.range);
        bytes = body.subarray(p.offset - r.start, p.offset - r.start + p.length);
        if (sha256(bytes) !== p.sha256) throw pieceMismatch(i, p, url);
        if (i === r.last) prefetch.release(src.range);
      }
      await write(bytes);
    }
  } finally {
    await writer.flush().catch((err: unknown) => {
      throw stagingError(err, t.part);
    });
    await prefetch.close();
    await Promise.allSettled(rebuilds.values());
  }
  return stats;
}
