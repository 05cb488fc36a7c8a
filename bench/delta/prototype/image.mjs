// Writes the image a piece design publishes, so its size and its form can be checked for
// real (gzip -t, zcat | cmp, a kernel boot): the early archive as it is, then ONE gzip
// member whose deflate stream is the pieces of the main archive, each compressed alone and
// ending with a full flush (byte-aligned, no reference to earlier bytes), then an empty
// final block and the gzip trailer. Also prints the piece table (the index prototype).
//   node image.mjs EARLY.cpio MAIN.cpio OUT.gz --design hybrid|cdc|segmented [--avg N]
//        [--repack] [--index OUT.idx]
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { constants as Z, crc32, deflateRawSync } from 'node:zlib';
import { cdcCuts, hybridCuts, repack, segmentCuts } from './pieces.mjs';

const [earlyPath, mainPath, outPath] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const design = opt('--design', 'hybrid');
const avg = Number(opt('--avg', '32768'));
const indexPath = opt('--index', null);

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
write(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3])); // gzip, no name, no mtime, -9, Unix
const index = [];
let at = 0;
for (const c of cutList) {
  const piece = main.subarray(at, c);
  const z = deflateRawSync(piece, { level: 9, memLevel: 9, finishFlush: Z.Z_FULL_FLUSH });
  index.push({ offset: pos, len: z.length, raw: c - at, sha256: createHash('sha256').update(z).digest('hex') });
  write(z);
  at = c;
}
write(Buffer.from([0x03, 0x00])); // an empty final fixed-Huffman block
const trailer = Buffer.alloc(8);
trailer.writeUInt32LE(crc32(main), 0);
trailer.writeUInt32LE(main.length % 2 ** 32, 4);
write(trailer);
closeSync(fd);
if (indexPath) {
  const lines = index.map((p) => `${p.offset}\t${p.len}\t${p.raw}\t${p.sha256}`);
  const fdi = openSync(indexPath, 'w');
  writeSync(fdi, lines.join('\n') + '\n');
  closeSync(fdi);
}
console.log(JSON.stringify({ out: outPath, bytes: pos, pieces: index.length }));
