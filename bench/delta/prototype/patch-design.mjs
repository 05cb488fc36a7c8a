// (e) the hybrid design (d) plus per-piece patches: a piece of NEW that the device lacks is
// not fetched when a patch against bytes it holds is smaller. The reference of a piece is
// the old versions of the entries the piece touches (same path; kernel modules compared
// without their ABI directory, /lib/modules/6.1.0-53-amd64 -> -57), whole entries up to
// `window` bytes, else the old bytes around the same offset (`window` on each side). The
// patch is zstd -19 with that reference as a raw-content dictionary (what node:zlib's
// zstdCompress/zstdDecompress do with { dictionary }, as `zstd --patch-from` does).
//
// The device: inflates the old pieces that hold the reference, zstd-decompresses the patch
// with it, compresses the piece again with the publisher's exact compressor and checks the
// piece's SHA-256 from the index (a mismatch means fetching the piece). Publisher: one
// patch pack per (older release, new release), patches in image order, fetched as one
// range. Memory per piece: reference (<= 2 * window + piece) + piece + zstd state.
//   node patch-design.mjs RELEASES_DIR OLD NEW [--avg 32768] [--window 1048576]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as Z, zstdCompressSync } from 'node:zlib';
import { cuts, params } from './cdc.mjs';
import { entriesOf, hybridCuts, piecesFromCuts, repack } from './pieces.mjs';

const [dir, oldRel, newRel] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const avg = opt('--avg', 32768);
const windowBytes = opt('--window', 1 << 20);
const RESPONSE_OVERHEAD = 500;
const INDEX_ENTRY = 40;
// Patch table entry: piece number (4), patch offset and length (8), and the reference as
// up to two (old piece number, offset, length) spans (24): 36 bytes, rounded to 40.
const PATCH_ENTRY = 40;

const norm = (name) => name.replace(/lib\/modules\/[^/]+\//, 'lib/modules/KVER/');

function release(rel) {
  const main = repack(readFileSync(join(dir, `${rel}.main.cpio`)));
  const early = readFileSync(join(dir, `${rel}.early.cpio`));
  return { main, early, entries: entriesOf(main) };
}
const oldR = release(oldRel);
const newR = release(newRel);
const oldByPath = new Map(oldR.entries.map((e) => [norm(e.name), e]));

const p64 = params(65536);
const oldKeys = new Set([
  ...piecesFromCuts(oldR.early, cuts(oldR.early, 0, oldR.early.length, p64), false).map(
    (x) => x.key,
  ),
  ...piecesFromCuts(oldR.main, hybridCuts(oldR.main, avg), true).map((x) => x.key),
]);
const earlyPieces = piecesFromCuts(newR.early, cuts(newR.early, 0, newR.early.length, p64), false);
const mainCuts = hybridCuts(newR.main, avg);
const mainPieces = piecesFromCuts(newR.main, mainCuts, true);

const starts = newR.entries.map((e) => e.offset);
function firstEntryAt(off) {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= off) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The old bytes a piece [at, end) of NEW is patched against. */
function reference(at, end) {
  const parts = [];
  for (let i = firstEntryAt(at); i < starts.length && starts[i] < end; i++) {
    const e = newR.entries[i];
    const old = oldByPath.get(norm(e.name));
    if (!old) continue;
    const oldLen = old.end - old.offset;
    if (oldLen <= 2 * windowBytes) parts.push(oldR.main.subarray(old.offset, old.end));
    else {
      const rel = Math.max(at, e.offset) - e.offset; // where the piece starts in the entry
      const from = Math.max(0, rel - windowBytes);
      const to = Math.min(oldLen, rel + (end - at) + windowBytes);
      parts.push(oldR.main.subarray(old.offset + from, old.offset + to));
    }
  }
  return Buffer.concat(parts);
}

const fetchList = [];
for (const piece of earlyPieces)
  fetchList.push({ len: piece.len, missing: !oldKeys.has(piece.key) });
fetchList.push({ len: 10, missing: false }); // gzip header, the same in every release
let at = 0;
let patchBytes = 0;
let patched = 0;
let missingPieces = 0;
let maxReference = 0;
mainPieces.forEach((piece, k) => {
  const end = mainCuts[k];
  let missing = !oldKeys.has(piece.key);
  if (missing) {
    missingPieces++;
    const ref = reference(at, end);
    if (ref.length > 0) {
      const patch = zstdCompressSync(newR.main.subarray(at, end), {
        dictionary: ref,
        params: { [Z.ZSTD_c_compressionLevel]: 19, [Z.ZSTD_c_checksumFlag]: 0 },
      });
      if (patch.length + PATCH_ENTRY < piece.len) {
        patchBytes += patch.length + PATCH_ENTRY;
        patched++;
        missing = false;
        maxReference = Math.max(maxReference, ref.length);
      }
    }
  }
  fetchList.push({ len: piece.len, missing });
  at = end;
});
fetchList.push({ len: 10, missing: oldRel !== newRel }); // last block + CRC-32 + size

let pos = 0;
const ranges = [];
for (const f of fetchList) {
  if (f.missing) {
    const last = ranges.at(-1);
    if (last && pos - last.end <= RESPONSE_OVERHEAD) last.end = pos + f.len;
    else ranges.push({ start: pos, end: pos + f.len });
  }
  pos += f.len;
}
const pieceBytes = ranges.reduce((s, r) => s + r.end - r.start, 0);
const index = 64 + INDEX_ENTRY * (earlyPieces.length + mainPieces.length + 2);
const requests = ranges.length + 1 + (patched ? 1 : 0);
console.log(
  JSON.stringify({
    pair: `${oldRel}->${newRel}`,
    avg,
    window: windowBytes,
    index,
    missingPieces,
    patched,
    patchBytes, // with the patch table
    pieceBytes,
    requests,
    total: index + pieceBytes + patchBytes + requests * RESPONSE_OVERHEAD,
    maxReference,
    imageBytes: pos,
  }),
);
