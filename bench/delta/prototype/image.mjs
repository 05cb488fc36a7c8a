// Writes the image a piece design publishes, so its size and its form can be checked for
// real (gzip -t, zcat | cmp, a kernel boot): the early archive as it is, then the pieces of
// the main archive, each compressed alone, in one of three forms (--form):
//   flush    ONE gzip member whose deflate stream is the pieces, each ending with a full
//            flush (byte-aligned, no reference to earlier bytes), then an empty final block
//            and the gzip trailer. Cuts may fall anywhere, inside a file too.
//   members  one gzip member per piece (the kernel needs each to end on a whole entry).
//   zstd     one zstd frame (level 19) per piece.
// Also writes the piece table (the index prototype) with --index.
//   node image.mjs EARLY.cpio MAIN.cpio OUT --design hybrid|cdc|segmented [--avg N]
//        [--form flush|members|zstd] [--repack] [--index OUT.idx]
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { constants as Z, crc32, deflateRawSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { cdcCuts, hybridCuts, repack, segmentCuts } from './pieces.mjs';

const [earlyPath, mainPath, outPath] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const design = opt('--design', 'hybrid');
const avg = Number(opt('--avg', '32768'));
const indexPath = opt('--index', null);
const form = opt('--form', 'flush');

const early = readFileSync(earlyPath);
let main = readFileSync(mainPath);
if (process.argv.includes('--repack')) main = repack(main);
const cutList =
  design === 'cdc'
    ? cdcCuts(main, avg)
    : design === 'segmented'
      ? segmentCuts(main, { big: 65536, minGroup: 16384, maxGroup: 262144, every: 8 })
      : hybridCuts(main, avg);

const fd = openSync(outPath, 'w');
let pos = 0;
const write = (buf) => {
  writeSync(fd, buf);
  pos += buf.length;
};
write(early);
if (form === 'flush') write(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3])); // no name, no mtime
const compress = {
  flush: (piece) => deflateRawSync(piece, { level: 9, memLevel: 9, finishFlush: Z.Z_FULL_FLUSH }),
  members: (piece) => gzipSync(piece, { level: 9, memLevel: 9 }),
  zstd: (piece) =>
    zstdCompressSync(piece, {
      params: { [Z.ZSTD_c_compressionLevel]: 19, [Z.ZSTD_c_checksumFlag]: 0 },
    }),
}[form];
const index = [];
let at = 0;
for (const c of cutList) {
  const piece = main.subarray(at, c);
  const z = compress(piece);
  index.push({
    offset: pos,
    len: z.length,
    raw: c - at,
    sha256: createHash('sha256').update(z).digest('hex'),
  });
  write(z);
  at = c;
}
if (form === 'flush') {
  write(Buffer.from([0x03, 0x00])); // an empty final fixed-Huffman block
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(main), 0);
  trailer.writeUInt32LE(main.length % 2 ** 32, 4);
  write(trailer);
}
closeSync(fd);
if (indexPath) {
  const lines = index.map((p) => `${p.offset}\t${p.len}\t${p.raw}\t${p.sha256}`);
  const fdi = openSync(indexPath, 'w');
  writeSync(fdi, lines.join('\n') + '\n');
  closeSync(fdi);
}
console.log(JSON.stringify({ out: outPath, bytes: pos, pieces: index.length }));
