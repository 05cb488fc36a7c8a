/**
 * The newc cpio format as the kernel reads an initramfs (Documentation/driver-api/
 * early-userspace/buffer-format.rst): 110-byte ASCII-hex headers, the name (NUL
 * terminated) and the data each padded to 4 bytes, an archive ended by TRAILER!!!,
 * archives one after the other with zero padding between them.
 */

export const NEWC_HEADER_BYTES = 110;
export const TRAILER = 'TRAILER!!!';
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

export const align4 = (n: number): number => (n + 3) & ~3;

export interface NewcHeader {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  fileSize: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  nameSize: number;
  check: number;
}

const FIELDS: (keyof NewcHeader)[] = [
  'ino',
  'mode',
  'uid',
  'gid',
  'nlink',
  'mtime',
  'fileSize',
  'devMajor',
  'devMinor',
  'rdevMajor',
  'rdevMinor',
  'nameSize',
  'check',
];

/** Whether `buf` holds a newc magic at `at` ("070701", or "070702" with checksums). */
function isNewcMagic(buf: Uint8Array, at: number): boolean {
  if (at + 6 > buf.length) return false;
  const s = Buffer.from(buf.buffer, buf.byteOffset + at, 6).toString('latin1');
  return s === '070701' || s === '070702';
}

/** The header at `at`, or undefined when the bytes there are not a well-formed one. */
export function parseNewcHeader(buf: Uint8Array, at: number): NewcHeader | undefined {
  if (at + NEWC_HEADER_BYTES > buf.length || !isNewcMagic(buf, at)) return undefined;
  const text = Buffer.from(buf.buffer, buf.byteOffset + at + 6, 104).toString('latin1');
  if (!/^[0-9A-Fa-f]{104}$/.test(text)) return undefined;
  const h = {} as NewcHeader;
  FIELDS.forEach((f, i) => {
    h[f] = parseInt(text.slice(i * 8, i * 8 + 8), 16);
  });
  if (h.nameSize < 1 || h.nameSize > 4096) return undefined;
  return h;
}

export function formatNewcHeader(h: NewcHeader): Buffer {
  const hex = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return Buffer.from('070701' + FIELDS.map((f) => hex(h[f])).join(''), 'latin1');
}

export interface NewcEntry {
  header: NewcHeader;
  name: string;
  /** Where the entry starts, its data starts, and it ends (after the data's padding). */
  offset: number;
  dataOffset: number;
  end: number;
}

/**
 * The entries of the newc archives at the start of `buf`, one after the other, with
 * the zero padding between archives. Stops at the first thing that is neither an
 * entry nor padding (a compressed archive after an uncompressed one); `end` is where.
 * Never reads past `buf`: a header that says more than there is ends the walk.
 */
export function walkNewc(buf: Uint8Array, start = 0): { entries: NewcEntry[]; end: number } {
  const entries: NewcEntry[] = [];
  let at = start;
  let end = start;
  for (;;) {
    while (at < buf.length && buf[at] === 0) at++;
    const h = parseNewcHeader(buf, at);
    if (h === undefined) break;
    const nameEnd = at + NEWC_HEADER_BYTES + h.nameSize;
    const dataOffset = align4(nameEnd);
    const entryEnd = align4(dataOffset + h.fileSize);
    if (nameEnd > buf.length || dataOffset + h.fileSize > buf.length) break;
    const name = Buffer.from(
      buf.buffer,
      buf.byteOffset + at + NEWC_HEADER_BYTES,
      h.nameSize - 1,
    ).toString('utf8');
    entries.push({ header: h, name, offset: at, dataOffset, end: Math.min(entryEnd, buf.length) });
    at = Math.min(entryEnd, buf.length);
    if (name === TRAILER) {
      // An archive ends here; its zero padding belongs to the prefix.
      while (at < buf.length && buf[at] === 0) at++;
      end = at;
    }
  }
  return { entries, end };
}
