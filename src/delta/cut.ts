/**
 * Cutting an image into pieces (docs/delta.md "Pieces"): the one function both the
 * publisher (the index it signs) and the device (what its own images hold) use, so that
 * the same bytes are cut the same way on both sides.
 *
 *   - an uncompressed cpio prefix (the early-microcode archive, or a whole plain cpio
 *     image) is cut by content (src/delta/cdc.ts), pieces of kind `raw`;
 *   - the rest, in `units` mode (a repacked image: one gzip member whose deflate stream
 *     is flushed with Z_FULL_FLUSH after every unit), after the 10-byte gzip header and
 *     after every full-flush marker (00 00 ff ff), each piece a `unit` that inflates on
 *     its own; the tail (final block, CRC-32, size) is `opaque`;
 *   - in `cdc` mode (any other image: gzip -9, gzip --rsyncable, zstd, a kernel) by
 *     content, pieces `opaque`.
 *
 * The file is read once, in blocks, hashing as it goes: memory stays a few MiB whatever
 * the image size.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { constants as Z, deflateRawSync, inflateRawSync } from 'node:zlib';
import { Chunker, cdcParams } from './cdc.js';
import {
  MAX_PIECE_BYTES,
  type CutParams,
  type DeltaIndex,
  type Piece,
  type PieceKind,
} from './index-format.js';
import { NEWC_HEADER_BYTES, TRAILER, align4, parseNewcHeader } from './newc.js';

/** The default average content-defined piece: 64 KiB (bench/delta/FINDINGS.md). */
export const DEFAULT_AVG_LOG2 = 16;
const BLOCK = 4 * 1024 * 1024;
const GZIP_HEADER_BYTES = 10;
/** A unit longer than this (compressed) is cut anyway: no piece outgrows a device's buffer. */
export const MAX_UNIT_BYTES = 4 * 1024 * 1024;
const FLUSH_MARKER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

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
export async function rawCpioPrefix(fh: FileHandle, size: number): Promise<number> {
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
 * Emits pieces while the file streams by; the caller says where each piece ends. Unit
 * pieces are kept (a few MiB at most) and inflated at their end, for their content
 * length; a "unit" that does not inflate on its own is opaque.
 */
class PieceSink {
  readonly pieces: Piece[] = [];
  #start = 0;
  #hash: Hash = createHash('sha256');
  #kept: Buffer[] = [];

  constructor(private readonly keep: (offset: number) => boolean) {}

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    if (this.keep(this.#start)) this.#kept.push(Buffer.from(chunk));
  }

  cut(end: number, kind: PieceKind): void {
    if (end <= this.#start) return;
    const length = end - this.#start;
    let contentLength = kind === 'raw' ? length : 0;
    if (kind === 'unit') {
      const content = tryInflateUnit(Buffer.concat(this.#kept));
      if (content === undefined) kind = 'opaque';
      else contentLength = content.length;
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
    const units = params.mode === 'units' && prefix < size;
    // units mode: the gzip header alone, so that the first unit starts at a flush boundary.
    const headerEnd = units ? Math.min(size, prefix + GZIP_HEADER_BYTES) : prefix;
    const sink = new PieceSink((offset) => units && offset >= headerEnd);
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
      whole.update(block);
      let done = 0; // bytes of this block already handed to the sink
      const feedTo = (end: number, kind: PieceKind) => {
        sink.update(block.subarray(done, end - pos));
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
      if (restFrom < pos + bytesRead) {
        if (units) {
          if (restFrom < headerEnd && headerEnd <= pos + bytesRead) feedTo(headerEnd, 'opaque');
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
          while (pos + bytesRead - unitStart > MAX_UNIT_BYTES) {
            unitStart += MAX_UNIT_BYTES;
            feedTo(unitStart, 'opaque');
            forced = true;
          }
          carry = Buffer.from(search.subarray(Math.max(0, search.length - 3)));
        } else {
          for (const c of cdc.feed(block, restFrom - pos, bytesRead)) feedTo(pos + c, 'opaque');
        }
      }
      sink.update(block.subarray(done));
      pos += bytesRead;
    }
    // The tail: the final deflate block and the gzip trailer, or the last CDC piece.
    sink.cut(size, prefix >= size ? 'raw' : 'opaque');
    const pieces = sink.pieces;
    if (pieces.some((p) => p.length > MAX_PIECE_BYTES)) {
      throw new Error('a piece is larger than MAX_PIECE_BYTES'); // cannot happen: cdc max, unit max
    }
    return { imageSize: size, imageSha256: whole.digest('hex'), params, pieces, bases: [] };
  } finally {
    await fh.close();
  }
}

/** A final, empty, fixed-Huffman deflate block: what ends a repacked stream after its last unit. */
export const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

/**
 * Content of a `unit` piece. A unit starts a fresh deflate stream (the one before it
 * ended with a full flush) and ends at a block boundary, so the unit followed by a
 * final empty block is a complete raw deflate stream: inflating it with Z_FINISH
 * fails for bytes cut anywhere else (a flush marker that was only data).
 */
export function inflateUnit(bytes: Uint8Array, maxOutputLength = MAX_PIECE_BYTES): Buffer {
  return inflateRawSync(Buffer.concat([bytes, FINAL_BLOCK]), { maxOutputLength });
}

/** inflateUnit, or undefined when the bytes are not a complete, flushed unit. */
export function tryInflateUnit(bytes: Uint8Array): Buffer | undefined {
  // A unit ends with a full flush: an empty stored block, 00 00 ff ff.
  const n = bytes.length;
  if (
    n < 5 ||
    bytes[n - 4] !== 0 ||
    bytes[n - 3] !== 0 ||
    bytes[n - 2] !== 0xff ||
    bytes[n - 1] !== 0xff
  ) {
    return undefined;
  }
  try {
    const content = inflateUnit(bytes);
    return content.length > 0 ? content : undefined;
  } catch {
    return undefined;
  }
}

/** Whether compressed unit bytes hold a full-flush marker before their end (a false cut). */
export function hasInnerMarker(unit: Uint8Array): boolean {
  const at = Buffer.from(unit.buffer, unit.byteOffset, unit.byteLength).indexOf(FLUSH_MARKER);
  return at >= 0 && at < unit.length - FLUSH_MARKER.length;
}

/** A unit as the repack writes it: raw deflate at `level`, ended by a full flush. */
export function deflateUnit(content: Uint8Array, level: number): Buffer {
  return deflateRawSync(content, { level, finishFlush: Z.Z_FULL_FLUSH });
}

/**
 * The publisher's choice of cut parameters for an image: `units` when the image is
 * flushed unit by unit and the first units deflate again byte for byte at one zlib
 * level (so a device can rebuild a patched unit exactly), else `cdc`.
 */
export async function detectCutParams(
  path: string,
  avgLog2 = DEFAULT_AVG_LOG2,
): Promise<CutParams> {
  const cdc: CutParams = { mode: 'cdc', avgLog2, deflateLevel: 0 };
  const fh = await open(path, 'r');
  let head: Buffer;
  let prefix: number;
  try {
    const size = (await fh.stat()).size;
    prefix = await rawCpioPrefix(fh, size);
    head = await readAt(fh, prefix, Math.min(size - prefix, 4 * 1024 * 1024));
  } finally {
    await fh.close();
  }
  // A gzip member with no optional fields (FLG = 0): what the repack writes.
  if (
    head.length < GZIP_HEADER_BYTES ||
    head[0] !== 0x1f ||
    head[1] !== 0x8b ||
    head[2] !== 8 ||
    head[3] !== 0
  ) {
    return cdc;
  }
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
    contents = units.map((u) => inflateUnit(u));
  } catch {
    return cdc; // a unit refers back into the one before it: not flushed unit by unit
  }
  for (const level of [9, 6, 1, 2, 3, 4, 5, 7, 8]) {
    if (units.every((u, k) => deflateUnit(contents[k]!, level).equals(u))) {
      return { mode: 'units', avgLog2, deflateLevel: level };
    }
  }
  return cdc;
}
