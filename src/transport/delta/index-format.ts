/**
 * The delta index of one image (docs/delta.md "Index format"): the image cut into
 * pieces, each with its offset, length, kind and SHA-256, and for each earlier release
 * it can be patched from (a "base"), the table of its patch pack. latest.json pins the
 * index's SHA-256 and size (`<image>_index_*`), so a device trusts every piece hash in
 * it exactly as it trusts the image.
 *
 * Binary, little-endian, fixed-size records (hashes do not compress; parsing is a
 * bounds-checked walk, nothing is decompressed):
 *
 *   header   64 bytes: "KSDIDX01", image size u64, image SHA-256, piece count u32,
 *            base count u32, mode u8 (0 cdc, 1 deflate units), the zlib level that
 *            rebuilds a unit u8, CDC average log2 u8, 5 zero bytes
 *   pieces   count x 48 bytes: offset u48, kind u8, a zero byte, length u32, content
 *            length u32, SHA-256
 *   bases    count x: image SHA-256, image size u64, pack size u64, pack SHA-256,
 *            entry count u32, name length u8, version length u8, name, version, then
 *            entries: piece u32, patch length u32, span count u16, 2 zero bytes, and
 *            span count x (content offset u64, length u32)
 *
 * `decodeIndex` refuses anything a device must not act on, with DELTA_INDEX_INVALID
 * and `details.problem`: pieces that do not tile the image exactly (a gap, an
 * overlap, out of order, zero length, beyond the end), unknown kinds, patch entries
 * for pieces that do not exist or that cannot be rebuilt, references larger than a
 * device may hold, trailing bytes.
 */
import { VerificationError } from '../../errors.js';

const INDEX_MAGIC = 'KSDIDX01';
const HEADER_BYTES = 64;
const PIECE_BYTES = 48;

/** A device never reads a larger index, whatever the metadata pins (memory, docs/delta.md). */
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;
/** The largest piece: a device holds one in memory to check it. */
export const MAX_PIECE_BYTES = 16 * 1024 * 1024;
/** The most bytes one patch may reference (its dictionary, held in memory while rebuilding). */
export const MAX_REFERENCE_BYTES = 8 * 1024 * 1024;
export const MAX_BASES = 16;
const MAX_SPANS = 64;

/**
 * What a piece is, which decides how a device may rebuild it from a patch:
 * `raw` bytes stand for themselves (an uncompressed cpio region), a `unit` is
 * independently deflated content (rebuilt by deflating it again at the index's level),
 * `opaque` can only be copied or fetched.
 */
const PIECE_KINDS = ['raw', 'unit', 'opaque'] as const;
export type PieceKind = (typeof PIECE_KINDS)[number];

export interface Piece {
  offset: number;
  length: number;
  kind: PieceKind;
  /**
   * Bytes of content the piece stands for: its length (`raw`), what it inflates to
   * (`unit`), 0 (`opaque`). The contents of an image's pieces, one after the other, are
   * its "content stream" (the uncompressed cpio), which patch references address.
   */
  contentLength: number;
  /** 64 lowercase hex characters. */
  sha256: string;
}

/**
 * How the image was cut (src/transport/delta/cut.ts): `deflate` cuts a repacked image unit by
 * unit (after every full flush), `cdc` cuts compressed bytes by content. Both cut an
 * uncompressed cpio prefix by content. A device cuts its own images with these same
 * parameters to find what it holds.
 */
export interface CutParams {
  mode: 'cdc' | 'deflate';
  /** log2 of the average content-defined piece. */
  avgLog2: number;
  /** Units: the level that compresses a unit's content to its bytes again (0: cannot be rebuilt). */
  level: number;
}

const MODES = ['cdc', 'deflate'] as const;

/** Bytes of the base image's content stream a patch is made against. */
export interface PatchSpan {
  offset: number;
  length: number;
}

/** One patch in a pack: rebuilds new piece `piece` from the spans, in order, as its dictionary. */
export interface PatchEntry {
  piece: number;
  length: number;
  spans: PatchSpan[];
}

/** An earlier image this one can be patched from, and its patch pack (a file next to the index). */
export interface PatchBase {
  imageSha256: string;
  imageSize: number;
  /** The release the base image belongs to (for `verify` and logs). */
  version: string;
  pack: { file: string; size: number; sha256: string };
  /** By ascending piece; patches lie in the pack in this order. */
  entries: PatchEntry[];
}

export interface DeltaIndex {
  imageSize: number;
  imageSha256: string;
  params: CutParams;
  pieces: Piece[];
  bases: PatchBase[];
}

function invalid(problem: string, message: string, details: Record<string, unknown> = {}) {
  return new VerificationError('DELTA_INDEX_INVALID', `delta index: ${message}`, {
    details: { problem, ...details },
  });
}

const PACK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function encodeIndex(index: DeltaIndex): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(INDEX_MAGIC, 0, 'latin1');
  header.writeBigUInt64LE(BigInt(index.imageSize), 8);
  Buffer.from(index.imageSha256, 'hex').copy(header, 16);
  header.writeUInt32LE(index.pieces.length, 48);
  header.writeUInt32LE(index.bases.length, 52);
  header[56] = MODES.indexOf(index.params.mode);
  header[57] = index.params.level;
  header[58] = index.params.avgLog2;
  parts.push(header);
  const pieces = Buffer.alloc(PIECE_BYTES * index.pieces.length);
  index.pieces.forEach((p, i) => {
    const at = i * PIECE_BYTES;
    pieces.writeUIntLE(p.offset, at, 6);
    pieces[at + 6] = PIECE_KINDS.indexOf(p.kind);
    pieces.writeUInt32LE(p.length, at + 8);
    pieces.writeUInt32LE(p.contentLength, at + 12);
    Buffer.from(p.sha256, 'hex').copy(pieces, at + 16);
  });
  parts.push(pieces);
  for (const base of index.bases) {
    const name = Buffer.from(base.pack.file, 'latin1');
    const version = Buffer.from(base.version, 'utf8');
    const head = Buffer.alloc(32 + 8 + 8 + 32 + 4 + 2);
    Buffer.from(base.imageSha256, 'hex').copy(head, 0);
    head.writeBigUInt64LE(BigInt(base.imageSize), 32);
    head.writeBigUInt64LE(BigInt(base.pack.size), 40);
    Buffer.from(base.pack.sha256, 'hex').copy(head, 48);
    head.writeUInt32LE(base.entries.length, 80);
    head[84] = name.length;
    head[85] = version.length;
    parts.push(head, name, version);
    for (const e of base.entries) {
      const rec = Buffer.alloc(12 + 12 * e.spans.length);
      rec.writeUInt32LE(e.piece, 0);
      rec.writeUInt32LE(e.length, 4);
      rec.writeUInt16LE(e.spans.length, 8);
      e.spans.forEach((s, k) => {
        rec.writeBigUInt64LE(BigInt(s.offset), 12 + 12 * k);
        rec.writeUInt32LE(s.length, 20 + 12 * k);
      });
      parts.push(rec);
    }
  }
  return Buffer.concat(parts);
}

/** A bounds-checked reader over the index bytes: running off the end is a refusal. */
class Reader {
  at = 0;
  constructor(readonly buf: Buffer) {}
  need(n: number, what: string): number {
    if (this.at + n > this.buf.length) {
      throw invalid('truncated', `ends inside ${what}`, { at: this.at });
    }
    const at = this.at;
    this.at += n;
    return at;
  }
  u8(what: string): number {
    return this.buf[this.need(1, what)]!;
  }
  u16(what: string): number {
    return this.buf.readUInt16LE(this.need(2, what));
  }
  u32(what: string): number {
    return this.buf.readUInt32LE(this.need(4, what));
  }
  u64(what: string): number {
    const v = this.buf.readBigUInt64LE(this.need(8, what));
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('too-large', `${what} is too large`);
    return Number(v);
  }
  hex32(what: string): string {
    const at = this.need(32, what);
    return this.buf.toString('hex', at, at + 32);
  }
}

/**
 * Parse and validate an index (already checked against its pinned SHA-256 and size, or
 * a device's own cached one). `expect` binds it to the image it must describe.
 */
export function decodeIndex(
  bytes: Uint8Array,
  expect?: { imageSha256: string; imageSize?: number | undefined },
): DeltaIndex {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length > MAX_INDEX_BYTES) {
    throw invalid('too-large', `larger than ${MAX_INDEX_BYTES} bytes`, { size: buf.length });
  }
  const r = new Reader(buf);
  r.need(HEADER_BYTES, 'the header');
  if (buf.toString('latin1', 0, 8) !== INDEX_MAGIC) throw invalid('magic', 'not a delta index');
  const hr = new Reader(buf);
  hr.at = 8;
  const imageSize = hr.u64('the image size');
  const imageSha256 = hr.hex32('the image digest');
  const pieceCount = hr.u32('the piece count');
  const baseCount = hr.u32('the base count');
  const mode = MODES[buf[56]!];
  const level = buf[57]!;
  const avgLog2 = buf[58]!;
  const maxLevel = mode === 'deflate' ? 9 : 0;
  if (mode === undefined || level > maxLevel || avgLog2 < 10 || avgLog2 > 22) {
    throw invalid('params', 'cut parameters out of range', { mode: buf[56], level, avgLog2 });
  }
  if (buf.subarray(59, HEADER_BYTES).some((b) => b !== 0)) {
    throw invalid('reserved', 'reserved header bytes are not zero');
  }
  if (expect !== undefined) {
    if (imageSha256 !== expect.imageSha256.toLowerCase()) {
      throw invalid('other-image', 'describes another image', {
        expected: expect.imageSha256,
        actual: imageSha256,
      });
    }
    if (expect.imageSize !== undefined && imageSize !== expect.imageSize) {
      throw invalid('other-image', 'describes an image of another size', {
        expected: expect.imageSize,
        actual: imageSize,
      });
    }
  }
  if (baseCount > MAX_BASES) throw invalid('too-many-bases', `more than ${MAX_BASES} bases`);
  if (pieceCount === 0 || pieceCount * PIECE_BYTES > buf.length - HEADER_BYTES) {
    throw invalid('truncated', 'ends inside the piece table', { pieces: pieceCount });
  }

  const pieces: Piece[] = new Array<Piece>(pieceCount);
  let next = 0;
  for (let i = 0; i < pieceCount; i++) {
    const at = r.need(8, 'a piece');
    const offset = buf.readUIntLE(at, 6);
    const kindCode = buf[at + 6]!;
    const length = r.u32('a piece length');
    const contentLength = r.u32('a piece content length');
    const sha256 = r.hex32('a piece digest');
    const kind = PIECE_KINDS[kindCode];
    if (kind === undefined || buf[at + 7] !== 0) {
      throw invalid('piece-kind', `piece ${i} has an unknown kind`, { piece: i, kind: kindCode });
    }
    const contentOk =
      kind === 'raw'
        ? contentLength === length
        : kind === 'opaque'
          ? contentLength === 0
          : contentLength > 0 && contentLength <= MAX_PIECE_BYTES;
    if (!contentOk) {
      throw invalid(
        'content-length',
        `piece ${i} (${kind}) claims ${contentLength} bytes of content`,
        {
          piece: i,
          contentLength,
        },
      );
    }
    if (length === 0) throw invalid('zero-length', `piece ${i} is empty`, { piece: i });
    if (length > MAX_PIECE_BYTES) {
      throw invalid('piece-too-large', `piece ${i} is larger than ${MAX_PIECE_BYTES} bytes`, {
        piece: i,
        length,
      });
    }
    if (offset !== next) {
      // Pieces tile the image in order: anything else is a gap, an overlap or disorder.
      throw invalid(
        offset < next ? 'overlap' : 'gap',
        `piece ${i} starts at ${offset}, not ${next}`,
        {
          piece: i,
          offset,
          expected: next,
        },
      );
    }
    next = offset + length;
    if (next > imageSize) {
      throw invalid('beyond-image', `piece ${i} ends past the image (${imageSize} bytes)`, {
        piece: i,
        end: next,
        imageSize,
      });
    }
    pieces[i] = { offset, length, kind, contentLength, sha256 };
  }
  if (next !== imageSize) {
    throw invalid('short', `pieces cover ${next} of ${imageSize} bytes`, {
      covered: next,
      imageSize,
    });
  }

  const bases: PatchBase[] = [];
  for (let b = 0; b < baseCount; b++) bases.push(readBase(r, pieces, level));
  if (r.at !== buf.length)
    throw invalid('trailing', 'has bytes after its last table', { at: r.at });
  return {
    imageSize,
    imageSha256,
    params: { mode, avgLog2, level },
    pieces,
    bases,
  };
}

function readBase(r: Reader, pieces: Piece[], level: number): PatchBase {
  const imageSha256 = r.hex32('a base digest');
  const imageSize = r.u64('a base size');
  const packSize = r.u64('a pack size');
  const packSha256 = r.hex32('a pack digest');
  const entryCount = r.u32('an entry count');
  const nameLength = r.u8('a pack name');
  const versionLength = r.u8('a base version');
  const nameAt = r.need(nameLength, 'a pack name');
  const file = r.buf.toString('latin1', nameAt, nameAt + nameLength);
  const versionAt = r.need(versionLength, 'a base version');
  const version = r.buf.toString('utf8', versionAt, versionAt + versionLength);
  if (!PACK_NAME.test(file)) throw invalid('pack-name', 'a pack name is not a plain file name');
  if (entryCount > pieces.length) {
    throw invalid('too-many-entries', 'a base has more patches than the image has pieces');
  }
  const entries: PatchEntry[] = [];
  let total = 0;
  let last = -1;
  for (let k = 0; k < entryCount; k++) {
    const piece = r.u32('a patch entry');
    const length = r.u32('a patch entry');
    const spanCount = r.u16('a patch entry');
    r.need(2, 'a patch entry');
    const target = pieces[piece];
    if (target === undefined || piece <= last) {
      throw invalid('patch-piece', `patch ${k} names piece ${piece}, out of order or absent`, {
        entry: k,
        piece,
      });
    }
    if (target.kind === 'opaque' || (target.kind === 'unit' && level === 0)) {
      // A unit is rebuilt by compressing its content at the index's level: without one, never.
      throw invalid('patch-piece', `patch ${k} names piece ${piece}, which cannot be rebuilt`, {
        entry: k,
        piece,
      });
    }
    if (length === 0 || spanCount === 0 || spanCount > MAX_SPANS) {
      throw invalid('patch-entry', `patch ${k} is empty or has ${spanCount} spans`, { entry: k });
    }
    last = piece;
    const spans: PatchSpan[] = [];
    let reference = 0;
    for (let s = 0; s < spanCount; s++) {
      const span = { offset: r.u64('a patch span'), length: r.u32('a patch span') };
      if (span.length === 0) throw invalid('patch-entry', `patch ${k} has an empty span`);
      reference += span.length;
      spans.push(span);
    }
    if (reference > MAX_REFERENCE_BYTES) {
      throw invalid('reference-too-large', `patch ${k} references ${reference} bytes`, {
        entry: k,
        reference,
      });
    }
    total += length;
    entries.push({ piece, length, spans });
  }
  if (total !== packSize) {
    throw invalid('pack-size', `patches add up to ${total} bytes, the pack is ${packSize}`);
  }
  return {
    imageSha256,
    imageSize,
    version,
    pack: { file, size: packSize, sha256: packSha256 },
    entries,
  };
}
