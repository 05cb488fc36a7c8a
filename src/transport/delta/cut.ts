/**
 * Cutting an image into pieces (docs/delta.md "Pieces"): the one function both the
 * publisher (the index it signs) and the device (what its own images hold) use, so that
 * the same bytes are cut the same way on both sides.
 *
 *   - an uncompressed cpio prefix (the early-microcode archive, or a whole plain cpio
 *     image) is cut by content (./cdc.ts), pieces of kind `raw`;
 *   - the rest, in `deflate` mode (a repacked image: one gzip member flushed after
 *     every unit, ./unit-codec.ts), after the 10-byte gzip header and after every
 *     full-flush marker; each piece a `unit` whose content inflates on its own,
 *     anything that does not (the header, the tail, a marker that was only data)
 *     `opaque`;
 *   - in `cdc` mode (any other image: gzip -9, gzip --rsyncable, a kernel) by content,
 *     pieces `opaque`.
 *
 * The file is read once, in blocks, hashing as it goes: memory stays a few MiB whatever
 * the image size.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { readAt } from '../../fs/read-at.js';
import { Chunker, cdcParams } from './cdc.js';
import {
  MAX_PIECE_BYTES,
  type CutParams,
  type DeltaIndex,
  type Piece,
  type PieceKind,
} from './index-format.js';
import { NEWC_HEADER_BYTES, TRAILER, align4, parseNewcHeader } from './newc.js';
import { FLUSH_MARKER, compressUnit, unitContent } from './unit-codec.js';

/** The default average piece: 256 KiB (bench/delta/FINDINGS.md). */
export const DEFAULT_AVG_LOG2 = 18;
const BLOCK = 4 * 1024 * 1024;
const GZIP_HEADER_BYTES = 10;
/** A unit longer than this (compressed) is cut anyway: no piece outgrows a device's buffer. */
const MAX_UNIT_BYTES = 4 * 1024 * 1024;

/** How many zero bytes start at `at` (padding between archives). */
async function zerosAt(fh: FileHandle, at: number, size: number): Promise<number> {
  let n = 0;
  while (at + n < size) {
    const buf = await readAt(fh, at + n, Math.min(64 * 1024, size - at - n));
    let z = 0;
    while (z < buf.length && buf[z] === 0) z++;
    n += z;
    if (z < buf.length || buf.length === 0) break;
  }
  return n;
}

/**
 * Where the uncompressed newc archives at the start of the file end, with the zero
 * padding after the last one (0 when the file does not start with one). Reads headers
 * only. A malformed or cut-off archive ends the prefix at the last complete archive.
 */
async function rawCpioPrefix(fh: FileHandle, size: number): Promise<number> {
  let at = 0;
  let end = 0;
  for (;;) {
    const zeros = await zerosAt(fh, at, size);
    // Padding after a complete archive (or before the first) belongs to the prefix.
    if (end === at) end = at + zeros;
    at += zeros;
    if (at >= size) return end;
    const head = await readAt(fh, at, NEWC_HEADER_BYTES + 4096);
    const h = parseNewcHeader(head, 0);
    if (h === undefined || NEWC_HEADER_BYTES + h.nameSize > head.length) return end;
    const dataOffset = align4(at + NEWC_HEADER_BYTES + h.nameSize);
    if (dataOffset + h.fileSize > size) return end;
    const name = head.toString('utf8', NEWC_HEADER_BYTES, NEWC_HEADER_BYTES + h.nameSize - 1);
    at = Math.min(align4(dataOffset + h.fileSize), size);
    if (name === TRAILER) end = at;
  }
}

/**
 * Emits pieces while the file streams by; the caller says where each piece ends and
 * what it is. Unit pieces are kept (a few MiB at most) and decompressed at their end,
 * for their content length; a "unit" that does not decompress on its own is opaque.
 */
class PieceSink {
  readonly pieces: Piece[] = [];
  #start = 0;
  #hash: Hash = createHash('sha256');
  #kept: Buffer[] = [];

  constructor(private readonly units: boolean) {}

  update(chunk: Uint8Array, keep: boolean): void {
    this.#hash.update(chunk);
    if (keep) this.#kept.push(Buffer.from(chunk));
  }

  cut(end: number, kind: PieceKind): void {
    if (end <= this.#start) return;
    const length = end - this.#start;
    let contentLength = kind === 'raw' ? length : 0;
    if (kind === 'unit') {
      const n = this.#contentLength();
      if (n === undefined || n <= 0 || n > MAX_PIECE_BYTES) kind = 'opaque';
      else contentLength = n;
    }
    this.pieces.push({
      offset: this.#start,
      length,
      kind,
      contentLength,
      sha256: this.#hash.digest('hex'),
    });
    this.#start = end;
    this.#hash = createHash('sha256');
    this.#kept = [];
  }

  #contentLength(): number | undefined {
    if (!this.units) return undefined;
    try {
      return unitContent(Buffer.concat(this.#kept), MAX_PIECE_BYTES).length;
    } catch {
      return undefined;
    }
  }
}

/**
 * Cut the file at `path` with `params`: its pieces and the SHA-256 of the whole file.
 * What `detectCutParams` chose for a publisher, or the new index's parameters on a
 * device cutting its own images.
 */
export async function cutImage(
  path: string,
  params: CutParams,
  signal?: AbortSignal,
): Promise<DeltaIndex> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const prefix = await rawCpioPrefix(fh, size);
    const whole = createHash('sha256');
    const cdc = new Chunker(cdcParams(params.avgLog2));
    const mode = prefix < size ? params.mode : 'cdc';
    // deflate mode: the gzip header alone, so that the first unit starts at a flush boundary.
    const headerEnd = mode === 'deflate' ? Math.min(size, prefix + GZIP_HEADER_BYTES) : prefix;
    const sink = new PieceSink(mode === 'deflate');
    let unitStart = headerEnd;
    // A piece cut by length is part of a unit, not one: it cannot be rebuilt alone.
    let forced = false;
    // The last bytes of the previous block: a marker may straddle two blocks.
    let carry = Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(BLOCK);
    for (let pos = 0; pos < size;) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, Math.min(BLOCK, size - pos), pos);
      if (bytesRead === 0) break;
      const block = buf.subarray(0, bytesRead);
      const blockEnd = pos + bytesRead;
      whole.update(block);
      let done = 0; // bytes of this block already handed to the sink
      const feedTo = (end: number, kind: PieceKind) => {
        // Units are kept to learn their content length.
        sink.update(block.subarray(done, end - pos), mode === 'deflate' && end > headerEnd);
        done = end - pos;
        sink.cut(end, kind);
      };
      // 1. The raw cpio prefix, cut by content.
      if (pos < prefix) {
        const stop = Math.min(bytesRead, prefix - pos);
        for (const c of cdc.feed(block, 0, stop)) feedTo(pos + c, 'raw');
        if (pos + stop === prefix) {
          feedTo(prefix, 'raw');
          cdc.reset();
        }
      }
      // 2. The rest.
      const restFrom = Math.max(pos, prefix);
      if (restFrom < blockEnd) {
        if (mode === 'deflate') {
          if (restFrom < headerEnd && headerEnd <= blockEnd) feedTo(headerEnd, 'opaque');
          const from = Math.max(restFrom, headerEnd) - pos;
          const search = Buffer.concat([carry, block.subarray(from)]);
          const base = pos + from - carry.length;
          for (
            let i = search.indexOf(FLUSH_MARKER);
            i >= 0;
            i = search.indexOf(FLUSH_MARKER, i + 1)
          ) {
            const end = base + i + FLUSH_MARKER.length;
            if (end <= unitStart) continue;
            while (end - unitStart > MAX_UNIT_BYTES) {
              unitStart += MAX_UNIT_BYTES;
              feedTo(unitStart, 'opaque');
              forced = true;
            }
            feedTo(end, forced ? 'opaque' : 'unit');
            unitStart = end;
            forced = false;
          }
          while (blockEnd - unitStart > MAX_UNIT_BYTES) {
            unitStart += MAX_UNIT_BYTES;
            feedTo(unitStart, 'opaque');
            forced = true;
          }
          carry = Buffer.from(search.subarray(Math.max(0, search.length - 3)));
        } else {
          for (const c of cdc.feed(block, restFrom - pos, bytesRead)) feedTo(pos + c, 'opaque');
        }
      }
      sink.update(block.subarray(done), mode === 'deflate' && blockEnd > headerEnd);
      pos = blockEnd;
    }
    // The tail: the final deflate block and the gzip trailer, or the last CDC piece.
    sink.cut(size, prefix >= size ? 'raw' : 'opaque');
    return {
      imageSize: size,
      imageSha256: whole.digest('hex'),
      params,
      pieces: sink.pieces,
      bases: [],
    };
  } finally {
    await fh.close();
  }
}

/**
 * The publisher's choice of cut parameters for an image: `deflate` when the part after
 * the raw prefix is one gzip member flushed unit by unit whose first units deflate again
 * byte for byte at one zlib level (so a device can rebuild a patched unit exactly),
 * else `cdc`.
 */
export async function detectCutParams(
  path: string,
  avgLog2 = DEFAULT_AVG_LOG2,
): Promise<CutParams> {
  const cdc: CutParams = { mode: 'cdc', avgLog2, level: 0 };
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    const size = (await fh.stat()).size;
    const prefix = await rawCpioPrefix(fh, size);
    head = await readAt(fh, prefix, Math.min(size - prefix, 4 * 1024 * 1024));
  } finally {
    await fh.close();
  }
  // A gzip member with no optional fields (FLG = 0): what the repack writes.
  const gzip =
    head.length >= GZIP_HEADER_BYTES &&
    head[0] === 0x1f &&
    head[1] === 0x8b &&
    head[2] === 8 &&
    head[3] === 0;
  if (!gzip) return cdc;
  const units: Buffer[] = [];
  let start = GZIP_HEADER_BYTES;
  for (
    let i = head.indexOf(FLUSH_MARKER, start);
    i >= 0 && units.length < 8;
    i = head.indexOf(FLUSH_MARKER, i + 1)
  ) {
    units.push(head.subarray(start, i + FLUSH_MARKER.length));
    start = i + FLUSH_MARKER.length;
  }
  if (units.length < 2) return cdc;
  let contents: Buffer[];
  try {
    contents = units.map((u) => unitContent(u, MAX_PIECE_BYTES));
  } catch {
    return cdc; // a unit refers back into the one before it: not flushed unit by unit
  }
  for (const level of [6, 9, 1, 2, 3, 4, 5, 7, 8]) {
    if (units.every((u, k) => compressUnit(contents[k]!, level).equals(u))) {
      return { mode: 'deflate', avgLog2, level };
    }
  }
  return cdc;
}
