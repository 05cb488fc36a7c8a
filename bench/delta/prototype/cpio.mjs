// newc cpio reading for the delta prototypes (measurement tools, not product code).
// An image here is one or more newc archives one after the other (the early-microcode
// archive, then the main one), each ending with a TRAILER!!! entry and zero padding.
import { openSync, readSync, fstatSync, closeSync } from 'node:fs';

const HEADER = 110;
const align4 = (n) => (n + 3) & ~3;

function hex(buf, at) {
  return parseInt(buf.toString('latin1', at, at + 8), 16);
}

/**
 * Entries of a newc cpio file, in order: { offset, end, name, mode, ino, nlink, mtime,
 * size, dataOffset, archive } where [offset, end) covers header, name, data and the
 * padding after them. Reads headers only (the data is skipped), so it is fast on 1 GiB.
 */
export function listEntries(path) {
  const fd = openSync(path, 'r');
  const total = fstatSync(fd).size;
  const head = Buffer.alloc(HEADER + 4096);
  const entries = [];
  let at = 0;
  let archive = 0;
  try {
    while (at < total) {
      const n = readSync(fd, head, 0, head.length, at);
      if (n < 6) break;
      if (head[0] === 0) {
        // zero padding between archives
        let z = 0;
        while (z < n && head[z] === 0) z++;
        at += z;
        continue;
      }
      const magic = head.toString('latin1', 0, 6);
      if (magic !== '070701' && magic !== '070702') throw new Error(`bad cpio magic at ${at}`);
      const namesize = hex(head, 94);
      const size = hex(head, 54);
      const name = head.toString('utf8', HEADER, HEADER + namesize - 1);
      const dataOffset = align4(at + HEADER + namesize);
      const end = align4(dataOffset + size);
      entries.push({
        offset: at,
        end,
        name,
        ino: hex(head, 6),
        mode: hex(head, 14),
        nlink: hex(head, 38),
        mtime: hex(head, 46),
        size,
        dataOffset,
        archive,
      });
      if (name === 'TRAILER!!!') archive++;
      at = end;
    }
  } finally {
    closeSync(fd);
  }
  return { entries, total };
}

/** Read [start, end) of a file into a Buffer. */
export function readRange(fd, start, end) {
  const buf = Buffer.allocUnsafe(end - start);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, start + got);
    if (n === 0) throw new Error('short read');
    got += n;
  }
  return buf;
}

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFDIR = 0o040000;
export { HEADER, align4 };
