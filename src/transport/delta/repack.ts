/**
 * `kubesolo-release repack IN OUT` (docs/delta.md "Delta-friendly images"): rewrite an
 * initramfs into the form whose pieces survive from one release to the next, and prove
 * that the kernel unpacks the same files from it.
 *
 * The form: the early (uncompressed, kernel/...) archives first and unchanged; then one
 * gzip member holding one newc archive, flushed after every unit (./unit-codec.ts), with
 *   - the entries sorted by path (byte order: a parent is a prefix of its children and
 *     sorts before them), so a build tool's directory order does not matter;
 *   - mtimes fixed (`mtime`, default 0) and inode numbers derived from the path, so a
 *     file added or removed does not change the headers after it;
 *   - the content cut into units (./units.ts: small files grouped at content-defined
 *     names, large files cut inside by content), each compressed alone: a unit's
 *     compressed bytes depend on its content only.
 * The proof (./repack-proof.ts) reads OUT back through an ordinary decompressor and compares
 * it with IN: files, modes, owners, contents, symlink targets, device numbers,
 * hard-link groups, parent-before-child order, the early archive first.
 */
import { crc32 } from 'node:zlib';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { OperationError, UsageError } from '../../errors.js';
import { tempFileName } from '../../fs/atomic.js';
import { readInputFile } from '../../fs/input-file.js';
import { DEFAULT_AVG_LOG2 } from './cut.js';
import { FINAL_BLOCK, compressUnitAsync, hasInnerMarker } from './unit-codec.js';
import { readInitramfs, type InitramfsEntry } from './initramfs.js';
import { NEWC_HEADER_BYTES, TRAILER, align4, formatNewcHeader, type NewcHeader } from './newc.js';
import { proveEquivalent, type RepackProof } from './repack-proof.js';
import { fnv1a, unitCuts } from './units.js';

/**
 * zlib level 6 with 256 KiB units: within 3 % of gzip -9, and fast enough to rebuild on
 * a device (level 9 is up to ten times slower on binaries; bench/delta/FINDINGS.md).
 */
const DEFAULT_REPACK_LEVEL = 6;
/** Units compressed at once (zlib runs on libuv's thread pool: the machine's cores). */
const IN_FLIGHT = 4;

export interface RepackOptions {
  /** Every entry's mtime (seconds); default 0. */
  mtime?: number;
  /** zlib level of every unit (1-9); default 6. */
  level?: number;
  /** log2 of the average unit (uncompressed); default 16 (64 KiB). */
  avgLog2?: number;
}

export interface RepackResult {
  inBytes: number;
  outBytes: number;
  units: number;
  proof: RepackProof;
}

const byName = (a: InitramfsEntry, b: InitramfsEntry) =>
  Buffer.compare(Buffer.from(a.name, 'utf8'), Buffer.from(b.name, 'utf8'));

/** Hard-link groups as the kernel matches them: inode, device and file type. */
function linkKey(e: InitramfsEntry): string | undefined {
  const h = e.header;
  return h.nlink > 1 && (h.mode & 0o170000) !== 0o040000
    ? `${h.ino}:${h.devMajor}:${h.devMinor}:${h.mode & 0o170000}`
    : undefined;
}

/** The main archive's entries in the repacked order, with their new headers. */
function normalizedEntries(entries: InitramfsEntry[], mtime: number) {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.name)) {
      throw new UsageError('REPACK_DUPLICATE_PATH', `${e.name} appears twice in the initramfs`, {
        details: { path: e.name },
      });
    }
    seen.add(e.name);
  }
  const sorted = [...entries].sort(byName);
  // Hard-link groups: one stable inode number per group (from its first path, probed
  // past any other group's), the data on the group's last entry as GNU cpio writes it.
  const groups = new Map<string, InitramfsEntry[]>();
  for (const e of sorted) {
    const k = linkKey(e);
    if (k !== undefined) groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const groupIno = new Map<string, number>();
  const groupData = new Map<string, Buffer>();
  const taken = new Set<number>();
  for (const [k, members] of groups) {
    const withData = members.filter((m) => m.data.length > 0);
    if (withData.length > 1) {
      throw new UsageError(
        'REPACK_HARDLINK_UNSUPPORTED',
        `hard links ${members.map((m) => m.name).join(', ')} carry data more than once`,
        { details: { paths: members.map((m) => m.name) } },
      );
    }
    let ino = fnv1a(members[0]!.name) | 1;
    while (taken.has(ino)) ino = (ino + 2) >>> 0;
    taken.add(ino);
    groupIno.set(k, ino);
    groupData.set(k, withData[0]?.data ?? Buffer.alloc(0));
  }
  return sorted.map((e) => {
    const k = linkKey(e);
    const members = k === undefined ? undefined : groups.get(k);
    const data =
      k === undefined ? e.data : members!.at(-1) === e ? groupData.get(k)! : Buffer.alloc(0);
    const header: NewcHeader = {
      ...e.header,
      ino: k === undefined ? fnv1a(e.name) | 1 : groupIno.get(k)!,
      mtime,
      fileSize: data.length,
      devMajor: 0,
      devMinor: 0,
      check: 0,
    };
    return { name: e.name, header, data };
  });
}

/** One entry's bytes in the archive: header, name, padding, data, padding. */
function entryBytes(name: string, header: NewcHeader, data: Buffer): Buffer[] {
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  const head = formatNewcHeader({ ...header, nameSize: nameBytes.length });
  const namePad =
    align4(NEWC_HEADER_BYTES + nameBytes.length) - NEWC_HEADER_BYTES - nameBytes.length;
  const dataPad = align4(data.length) - data.length;
  return [head, nameBytes, Buffer.alloc(namePad), data, Buffer.alloc(dataPad)];
}

/** The repacked main archive, uncompressed, and where each entry starts in it. */
function mainArchive(entries: InitramfsEntry[], mtime: number) {
  const parts: Buffer[] = [];
  const starts: { name: string; offset: number; end: number }[] = [];
  let at = 0;
  const trailer: NewcHeader = {
    ino: 0,
    mode: 0,
    uid: 0,
    gid: 0,
    nlink: 1,
    mtime: 0,
    fileSize: 0,
    devMajor: 0,
    devMinor: 0,
    rdevMajor: 0,
    rdevMinor: 0,
    nameSize: 0,
    check: 0,
  };
  for (const e of [
    ...normalizedEntries(entries, mtime),
    { name: TRAILER, header: trailer, data: Buffer.alloc(0) },
  ]) {
    const bytes = entryBytes(e.name, e.header, e.data);
    const length = bytes.reduce((s, b) => s + b.length, 0);
    starts.push({ name: e.name, offset: at, end: at + length });
    parts.push(...bytes);
    at += length;
  }
  return { archive: Buffer.concat(parts), entries: starts };
}

/** gzip header without optional fields (FLG 0), MTIME 0, XFL 2 (level 9), OS 3 (Unix). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);

export async function repackImage(
  inPath: string,
  outPath: string,
  options: RepackOptions = {},
): Promise<RepackResult> {
  const mtime = options.mtime ?? 0;
  const level = options.level ?? DEFAULT_REPACK_LEVEL;
  const avgLog2 = options.avgLog2 ?? DEFAULT_AVG_LOG2;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new UsageError('REPACK_OPTION_INVALID', `--level takes 1 to 9, not ${level}`);
  }
  const input = await readInputFile(inPath);
  const image = readInitramfs(input);
  const { archive, entries } = mainArchive(image.entries, mtime);
  const cuts = unitCuts(archive, entries, avgLog2);

  const temp = join(dirname(outPath), tempFileName(basename(outPath)));
  const out = await open(temp, 'wx', 0o644).catch((err: unknown) => {
    throw new OperationError('REPACK_FAILED', `cannot write ${outPath}`, {
      cause: err,
      details: { path: outPath },
    });
  });
  let outBytes = 0;
  let unitCount = 0;
  try {
    const write = async (b: Buffer) => {
      await out.write(b);
      outBytes += b.length;
    };
    await write(image.early);
    await write(GZIP_HEADER);
    // Units compressed side by side, written in order.
    const pending: Promise<Buffer[]>[] = [];
    let start = 0;
    let units = 0;
    const compress = async (from: number, to: number): Promise<Buffer[]> => {
      const unit = await compressUnitAsync(archive.subarray(from, to), level);
      // A flush marker inside a unit would be taken for the unit's end (./cut.ts):
      // such a unit is made two, cut in the middle, until none holds one.
      if (!hasInnerMarker(unit) || to - from < 2) return [unit];
      const mid = from + Math.floor((to - from) / 2);
      return [...(await compress(from, mid)), ...(await compress(mid, to))];
    };
    const writeUnits = async (done: Buffer[]) => {
      units += done.length;
      for (const u of done) await write(u);
    };
    for (const cut of cuts) {
      pending.push(compress(start, cut));
      start = cut;
      if (pending.length >= IN_FLIGHT) await writeUnits(await pending.shift()!);
    }
    while (pending.length > 0) await writeUnits(await pending.shift()!);
    unitCount = units;
    await write(FINAL_BLOCK);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(archive), 0);
    trailer.writeUInt32LE(archive.length % 2 ** 32, 4);
    await write(trailer);
    await out.sync();
  } catch (err) {
    await out.close();
    await rm(temp, { force: true });
    throw new OperationError('REPACK_FAILED', `cannot write ${outPath}`, {
      cause: err,
      details: { path: outPath },
    });
  }
  await out.close();
  let proof: RepackProof;
  try {
    proof = proveEquivalent(image, await readFile(temp));
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await rename(temp, outPath);
  return { inBytes: input.length, outBytes, units: unitCount, proof };
}
