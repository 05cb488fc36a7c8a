// Bytes a device would fetch under each candidate index design (issue 26), on the
// releases bench/delta/build-releases.sh built.
//   node bench/delta/prototype/measure.mjs [RELEASES_DIR] [--only 'PART|PART'] > designs.json
// For each design: v3's published image (its size against plain gzip -9), its
// pieces and index; for each pair OLD -> NEW (v2->v3, v1->v3, v3->v3): the index,
// plus the byte ranges of the pieces of NEW whose content OLD lacks, merged when the gap
// between them costs less than a request, plus one response header per request.
import { readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { cuts, params } from './cdc.mjs';
import { cdcCuts, hybridCuts, needSizes, piecesFromCuts, repack, segmentCuts } from './pieces.mjs';

const DIR =
  process.argv[2] && !process.argv[2].startsWith('--')
    ? process.argv[2]
    : '.tmp/delta-cache/releases';
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg > 0 ? process.argv[onlyArg + 1].split('|') : null;

// Bytes of one HTTP/1.1 206 response's status line and headers as S3 behind CloudFront
// sends them (content-range, etag, last-modified, x-amz-*, via, x-cache, x-amz-cf-*):
// about 500 bytes. Every request costs that on top of its body.
const RESPONSE_OVERHEAD = 500;
// Index entry: SHA-256 of the piece as published (32) + its length (4) + the length it
// unpacks to (4); plus a fixed header. Hashes do not compress, so neither does the index.
const INDEX_ENTRY = 40;
const INDEX_HEADER = 64;

const RELEASES = ['v1', 'v2', 'v3'];
const PAIRS = [
  ['v2', 'v3'],
  ['v1', 'v3'],
  ['v3', 'v3'],
];

const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
const sha = (buf) => createHash('sha256').update(buf).digest('base64');

function load(rel, what) {
  return readFileSync(join(DIR, `${rel}.${what}`));
}

/** The early archive: stored as it is, cut into content-defined pieces. */
function earlyPieces(rel, avg) {
  const early = load(rel, 'early.cpio');
  return piecesFromCuts(early, cuts(early, 0, early.length, params(avg)), false);
}

/**
 * A compressed design: early archive, then one gzip member whose deflate stream is the
 * pieces of the main archive, each compressed alone (full flush), then the last block and
 * the trailer (CRC-32 and size: they change with every release).
 */
function compressedDesign(cutFn, { repacked, avg, codec = 'gzip' }) {
  return (rel) => {
    let main = load(rel, 'main.cpio');
    if (repacked) main = repack(main);
    const early = earlyPieces(rel, avg ?? 65536);
    const body = piecesFromCuts(main, cutFn(main), codec);
    if (codec === 'zstd') return [...early, ...body]; // frames one after the other
    const trailer = { key: `trailer:${sha(main)}`, len: 2 + 8 };
    const header = { key: 'gzip-header', len: GZIP_HEADER.length };
    return [...early, header, ...body, trailer];
  };
}

/** A design over a published file as it is (no repack): content-defined chunks of its bytes. */
function asIsDesign(file, avg) {
  return (rel) => {
    const buf = load(rel, file);
    return piecesFromCuts(buf, cuts(buf, 0, buf.length, params(avg)), false);
  };
}

const DESIGNS = {
  'full gzip -9 (one piece)': (rel) => {
    const buf = load(rel, 'gz');
    return [{ key: sha(buf), len: buf.length, raw: buf.length }];
  },
};
// node:zlib (the runtime's bundled zlib) on the whole main archive, no pieces: separates
// what the implementation costs against GNU gzip -9 from what cutting into pieces costs.
DESIGNS['node:zlib -9, main archive whole (no pieces)'] = compressedDesign((b) => [b.length], {
  repacked: true,
});
for (const avg of [16384, 32768, 65536]) {
  const k = avg / 1024;
  if (avg === 16384)
    DESIGNS[`(a) CDC ${k} KiB, as built`] = compressedDesign((b) => cdcCuts(b, avg), {
      repacked: false,
      avg,
    });
  DESIGNS[`(a) CDC ${k} KiB, repacked`] = compressedDesign((b) => cdcCuts(b, avg), {
    repacked: true,
    avg,
  });
}
DESIGNS['(b) segmented, entry-aligned members'] = compressedDesign(
  (b) => segmentCuts(b, { big: 65536, minGroup: 16384, maxGroup: 262144, every: 8 }),
  { repacked: true, avg: 65536 },
);
for (const avg of [16384, 32768, 65536]) {
  DESIGNS[`(d) hybrid ${avg / 1024} KiB, repacked`] = compressedDesign((b) => hybridCuts(b, avg), {
    repacked: true,
    avg,
  });
}
// zstd -19 pieces (slow to compute: run with --only zstd). The kernel reads zstd initramfs
// archives too; zstd -19 of the whole archive is the reference for these rows.
DESIGNS['(d) hybrid 32 KiB, repacked, zstd -19 pieces'] = compressedDesign(
  (b) => hybridCuts(b, 32768),
  {
    repacked: true,
    avg: 32768,
    codec: 'zstd',
  },
);
for (const avg of [16384, 65536]) {
  DESIGNS[`(c) CDC ${avg / 1024} KiB over gzip --rsyncable as is`] = asIsDesign(
    'rsyncable.gz',
    avg,
  );
}
DESIGNS['CDC 64 KiB over plain gzip -9 as is'] = asIsDesign('gz', 65536);

/**
 * Bytes to fetch NEW given OLD's pieces: index + ranges + one response header per request.
 * Missing pieces closer than `gap` bytes are fetched in one range (the bytes between them
 * too): gap = the response overhead minimises bytes; a larger gap trades bytes for fewer
 * requests (round trips on a slow link).
 */
function fetchCost(oldPieces, newPieces, gap = RESPONSE_OVERHEAD) {
  const have = new Set(oldPieces.map((p) => p.key));
  const ranges = [];
  let pos = 0;
  for (const p of newPieces) {
    if (!have.has(p.key)) {
      const last = ranges.at(-1);
      if (last && pos - last.end <= gap) last.end = pos + p.len;
      else ranges.push({ start: pos, end: pos + p.len });
    }
    pos += p.len;
  }
  const body = ranges.reduce((s, r) => s + r.end - r.start, 0);
  const index = INDEX_HEADER + INDEX_ENTRY * newPieces.length;
  return {
    index,
    pieces: body,
    requests: ranges.length + 1,
    total: index + body + (ranges.length + 1) * RESPONSE_OVERHEAD,
  };
}

const earlySize = Object.fromEntries(
  RELEASES.map((r) => [r, statSync(join(DIR, `${r}.early.cpio`)).size]),
);
const gzipSize = Object.fromEntries(RELEASES.map((r) => [r, statSync(join(DIR, `${r}.gz`)).size]));
const out = {
  dir: DIR,
  responseOverhead: RESPONSE_OVERHEAD,
  indexEntry: INDEX_ENTRY,
  gzipSize,
  designs: {},
};
for (const [name, design] of Object.entries(DESIGNS)) {
  if (ONLY ? !ONLY.some((o) => name.includes(o)) : name.includes('zstd')) continue;
  const t0 = Date.now();
  const pieces = {};
  for (const rel of RELEASES) {
    needSizes(rel === 'v3');
    pieces[rel] = design(rel);
  }
  const image = {};
  for (const rel of ['v3']) {
    const len = pieces[rel].reduce((s, p) => s + p.len, 0);
    const early = earlySize[rel];
    image[rel] = {
      bytes: len,
      pieces: pieces[rel].length,
      vsGzip9: len / gzipSize[rel],
      // the same without the early archive (stored as it is in every design)
      mainVsGzip9: (len - early) / (gzipSize[rel] - early),
    };
  }
  const pairs = {};
  for (const [a, b] of PAIRS) {
    pairs[`${a}->${b}`] = fetchCost(pieces[a], pieces[b]);
    pairs[`${a}->${b} (gaps to 64 KiB merged)`] = fetchCost(pieces[a], pieces[b], 65536);
  }
  out.designs[name] = { image, pairs, seconds: (Date.now() - t0) / 1000 };
  process.stderr.write(
    `${name}: ${JSON.stringify(pairs['v2->v3'])} ${(Date.now() - t0) / 1000}s\n`,
  );
}
console.log(JSON.stringify(out, null, 2));
