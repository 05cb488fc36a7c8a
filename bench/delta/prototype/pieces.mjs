// Candidate index designs for delta updates (issue 26), as piece lists. A design turns a
// release into the image it would publish, cut into pieces; a device that holds the old
// release's pieces fetches only the new pieces whose content it lacks. Measurement tool:
// it computes sizes, it does not write images (see image.mjs for that).
//
// Piece = { key, len }: key identifies the content (SHA-256 of the uncompressed bytes,
// plus the design's compression), len is the bytes the piece takes in the published file.
import { createHash } from 'node:crypto';
import { deflateRawSync, zstdCompressSync, constants as Z } from 'node:zlib';
import { cuts, params } from './cdc.mjs';
import { HEADER, align4 } from './cpio.mjs';

const sha = (buf) => createHash('sha256').update(buf).digest('base64');

/** Entries of an in-memory newc archive: { offset, end, name, nameOffset, size, nlink }. */
export function entriesOf(buf) {
  const out = [];
  let at = 0;
  const hex = (o) => parseInt(buf.toString('latin1', o, o + 8), 16);
  while (at + HEADER <= buf.length) {
    if (buf[at] === 0) {
      at++;
      continue;
    }
    const namesize = hex(at + 94);
    const size = hex(at + 54);
    const name = buf.toString('utf8', at + HEADER, at + HEADER + namesize - 1);
    const end = align4(align4(at + HEADER + namesize) + size);
    out.push({ offset: at, end, name, size, nlink: hex(at + 38), ino: hex(at + 6) });
    at = end;
  }
  return out;
}

// FNV-1a, 32 bits: a stable number from a path (inode numbers, group cuts).
export function fnv1a(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const MTIME_FIXED = 0;

/**
 * The repack the index wants (issue 26 item 2), in place on a copy: every inode number
 * derived from the path (a hard-link group from its first path), every mtime fixed, so a
 * file added or removed does not shift the headers after it. Order, names, modes, owners
 * and contents are untouched.
 */
export function repack(buf) {
  const out = Buffer.from(buf);
  const groups = new Map();
  const put = (o, v) => out.write(v.toString(16).padStart(8, '0'), o, 8, 'latin1');
  for (const e of entriesOf(buf)) {
    if (e.name === 'TRAILER!!!') continue;
    let ino;
    if (e.nlink > 1) {
      if (!groups.has(e.ino)) groups.set(e.ino, fnv1a(e.name) | 1);
      ino = groups.get(e.ino);
    } else ino = fnv1a(e.name) | 1;
    put(e.offset + 6, ino);
    put(e.offset + 46, MTIME_FIXED);
  }
  return out;
}

// Compressed size of one piece alone: raw deflate level 9 ending with a full flush (so the
// pieces, concatenated, are one valid deflate stream in one gzip member, and each piece's
// bytes depend on its content only). Cached by content: pieces repeat across releases.
const deflateCache = new Map();
export function deflatedLen(piece, k = sha(piece)) {
  let n = deflateCache.get(k);
  if (n === undefined) {
    n = deflateRawSync(piece, { level: 9, memLevel: 9, finishFlush: Z.Z_FULL_FLUSH }).length;
    deflateCache.set(k, n);
  }
  return n;
}

// Only the release a device moves TO needs compressed sizes; the releases it moves from need
// only their pieces' identities. measure.mjs turns this off for those (it saves the
// level 9 compression of two whole images per design).
let sizesNeeded = true;
export function needSizes(yes) {
  sizesNeeded = yes;
}

// The same with zstd -19, each piece its own frame (no checksum: the index has a SHA-256).
const zstdCache = new Map();
export function zstdLen(piece, k = sha(piece)) {
  let n = zstdCache.get(k);
  if (n === undefined) {
    n = zstdCompressSync(piece, {
      params: { [Z.ZSTD_c_compressionLevel]: 19, [Z.ZSTD_c_checksumFlag]: 0 },
    }).length;
    zstdCache.set(k, n);
  }
  return n;
}

/**
 * Pieces from cut points over buf: compressed alone (compress = 'gzip' or 'zstd'; true
 * means gzip) or stored as they are (false).
 */
export function piecesFromCuts(buf, cutList, compress, start = 0) {
  const size = compress === 'zstd' ? zstdLen : deflatedLen;
  const pieces = [];
  let at = start;
  for (const c of cutList) {
    const piece = buf.subarray(at, c);
    const key = sha(piece);
    pieces.push({
      key: compress ? `${compress}:${key}` : key,
      len: compress ? (sizesNeeded ? size(piece, key) : NaN) : c - at,
      raw: c - at,
    });
    at = c;
  }
  return pieces;
}

/** (a) content-defined chunks over the whole buffer. */
export function cdcCuts(buf, avg) {
  return cuts(buf, 0, buf.length, params(avg));
}

/**
 * (b) segmented: cuts at entry boundaries only. An entry of `big` bytes or more is a
 * member alone; smaller entries are grouped, a group ending after an entry whose path
 * hashes to 0 mod `every` once it holds `minGroup` bytes, or at `maxGroup` bytes.
 */
export function segmentCuts(buf, { big, minGroup, maxGroup, every }) {
  const out = [];
  let groupStart = 0;
  for (const e of entriesOf(buf)) {
    const len = e.end - e.offset;
    if (len >= big) {
      if (e.offset > groupStart) out.push(e.offset);
      out.push(e.end);
      groupStart = e.end;
      continue;
    }
    const held = e.end - groupStart;
    if ((held >= minGroup && fnv1a(e.name) % every === 0) || held >= maxGroup) {
      out.push(e.end);
      groupStart = e.end;
    }
  }
  if (groupStart < buf.length) out.push(buf.length);
  return out;
}

/**
 * (d) hybrid: entry-aligned like (b), and an entry larger than `4 * avg` is cut inside
 * by content-defined chunks too (a big Go binary that changes a little re-sends only the
 * chunks that changed). Needs one deflate stream with full flushes (cuts fall inside
 * entries, which separate gzip members may not do).
 */
export function hybridCuts(buf, avg) {
  const p = params(avg);
  const out = [];
  let groupStart = 0;
  const every = 8;
  for (const e of entriesOf(buf)) {
    const len = e.end - e.offset;
    if (len >= 4 * avg) {
      if (e.offset > groupStart) out.push(e.offset);
      out.push(...cuts(buf, e.offset, e.end, p));
      groupStart = e.end;
      continue;
    }
    const held = e.end - groupStart;
    if ((held >= avg / 2 && fnv1a(e.name) % every === 0) || held >= 4 * avg) {
      out.push(e.end);
      groupStart = e.end;
    }
  }
  if (groupStart < buf.length) out.push(buf.length);
  return out;
}
