/**
 * An initramfs as the kernel sees it (docs/delta.md "Images"): uncompressed newc
 * archives first (the early-microcode archive must be), then at most one compressed
 * stream (gzip, one or more members, or zstd, one or more frames) holding more
 * archives. `readInitramfs` decompresses and lists every entry; what it cannot read
 * the way the kernel would is refused with REPACK_INPUT_UNSUPPORTED.
 */
import { constants as Z, gunzipSync, zstdDecompressSync } from 'node:zlib';
import { UsageError } from '../../errors.js';
import { TRAILER, walkNewc, type NewcEntry } from './newc.js';

/** Decompressed content larger than this is refused (a bomb, or not an initramfs). */
const MAX_INITRAMFS_BYTES = 4 * 1024 * 1024 * 1024 - 1;

export interface InitramfsEntry extends NewcEntry {
  /** The entry's data (file content, symlink target), a view into the decompressed bytes. */
  data: Buffer;
}

export interface Initramfs {
  /** The leading uncompressed archives that only hold `kernel/...` (early microcode, ACPI tables), as they are. */
  early: Buffer;
  /** Every other entry (trailers left out), in archive order. */
  entries: InitramfsEntry[];
  /** How the rest was stored. */
  compression: 'gzip' | 'zstd' | 'none';
}

function unsupported(message: string, details: Record<string, unknown> = {}): UsageError {
  return new UsageError('REPACK_INPUT_UNSUPPORTED', message, { details });
}

const isGzip = (b: Buffer, at: number) => b[at] === 0x1f && b[at + 1] === 0x8b;
const isZstd = (b: Buffer, at: number) =>
  b[at] === 0x28 && b[at + 1] === 0xb5 && b[at + 2] === 0x2f && b[at + 3] === 0xfd;

/** An early archive holds only what the kernel reads before the rest: paths under kernel/. */
function isEarlyArchive(entries: NewcEntry[]): boolean {
  const content = entries.filter((e) => e.name !== TRAILER && e.name !== '.');
  return content.length > 0 && content.every((e) => /^(\.\/)?kernel(\/|$)/.test(e.name));
}

/** Split the entries of `buf` into archives (each ends with its trailer). */
function archivesOf(entries: NewcEntry[]): NewcEntry[][] {
  const out: NewcEntry[][] = [[]];
  for (const e of entries) {
    out.at(-1)!.push(e);
    if (e.name === TRAILER) out.push([]);
  }
  return out.filter((a) => a.length > 0);
}

export function readInitramfs(bytes: Buffer): Initramfs {
  const raw = walkNewc(bytes, 0);
  let rest = bytes.subarray(raw.end);
  let compression: Initramfs['compression'] = 'none';
  let decompressed = Buffer.alloc(0);
  if (rest.length > 0) {
    const options = { maxOutputLength: MAX_INITRAMFS_BYTES };
    try {
      if (isGzip(rest, 0)) {
        compression = 'gzip';
        decompressed = gunzipSync(rest, { ...options, finishFlush: Z.Z_FINISH });
      } else if (isZstd(rest, 0)) {
        compression = 'zstd';
        decompressed = zstdDecompressSync(rest, options);
      } else {
        throw unsupported(
          'the initramfs continues with something that is neither cpio, gzip nor zstd',
          {
            offset: raw.end,
          },
        );
      }
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw unsupported(
        `the ${compression} part of the initramfs does not decompress: ${String(err)}`,
        {
          offset: raw.end,
        },
      );
    }
    rest = decompressed;
  }
  const inner = walkNewc(rest, 0);
  if (inner.end !== rest.length) {
    throw unsupported('the decompressed part is not a sequence of complete newc archives', {
      end: inner.end,
      size: rest.length,
    });
  }
  // The leading uncompressed archives: those holding only kernel/ stay as they are.
  const rawArchives = archivesOf(raw.entries);
  let earlyEnd = 0;
  const mainEntries: InitramfsEntry[] = [];
  let early = true;
  for (const archive of rawArchives) {
    if (early && isEarlyArchive(archive)) {
      earlyEnd = archive.at(-1)!.end;
      continue;
    }
    early = false;
    for (const e of archive) mainEntries.push(withData(bytes, e));
  }
  // The early part ends after its padding, where the next archive (or the stream) starts.
  const earlyBytes =
    earlyEnd === 0 ? Buffer.alloc(0) : bytes.subarray(0, nextNonZero(bytes, earlyEnd, raw.end));
  for (const e of inner.entries) mainEntries.push(withData(rest, e));
  return {
    early: earlyBytes,
    entries: mainEntries.filter((e) => e.name !== TRAILER),
    compression,
  };
}

function nextNonZero(buf: Buffer, from: number, limit: number): number {
  let at = from;
  while (at < limit && buf[at] === 0) at++;
  return at;
}

function withData(buf: Buffer, e: NewcEntry): InitramfsEntry {
  return { ...e, data: buf.subarray(e.dataOffset, e.dataOffset + e.header.fileSize) };
}
