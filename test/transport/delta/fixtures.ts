/**
 * Small synthetic initramfs releases for the delta tests (the big, real ones are in
 * bench/delta): an uncompressed early-microcode archive, then a gzip'd newc archive of
 * a tree whose files look like a system's (compressible "binaries", text, a large
 * file cut into several units, links, a device node), built here byte by byte so a
 * test controls order, hard links and duplicates. `release(n)` changes a few files
 * per step, as a point release does.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import {
  formatNewcHeader,
  NEWC_HEADER_BYTES,
  align4,
  type NewcHeader,
} from '../../../src/transport/delta/newc.js';

export interface FixtureEntry {
  name: string;
  mode: number;
  data?: Buffer;
  uid?: number;
  gid?: number;
  ino?: number;
  nlink?: number;
  rdevMajor?: number;
  rdevMinor?: number;
  mtime?: number;
}

/** A newc archive of `entries` in the given order, ended by a trailer (and padded to 512). */
export function newcArchive(entries: FixtureEntry[], pad512 = true): Buffer {
  const parts: Buffer[] = [];
  let ino = 100;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 } as FixtureEntry]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const header: NewcHeader = {
      ino: e.ino ?? (e.name === 'TRAILER!!!' ? 0 : ino++),
      mode: e.mode,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      nlink: e.nlink ?? 1,
      mtime: e.mtime ?? 1_700_000_000,
      fileSize: data.length,
      devMajor: 8,
      devMinor: 1,
      rdevMajor: e.rdevMajor ?? 0,
      rdevMinor: e.rdevMinor ?? 0,
      nameSize: name.length,
      check: 0,
    };
    parts.push(formatNewcHeader(header), name);
    parts.push(
      Buffer.alloc(align4(NEWC_HEADER_BYTES + name.length) - NEWC_HEADER_BYTES - name.length),
    );
    parts.push(data, Buffer.alloc(align4(data.length) - data.length));
  }
  const archive = Buffer.concat(parts);
  if (!pad512) return archive;
  return Buffer.concat([archive, Buffer.alloc((512 - (archive.length % 512)) % 512)]);
}

/** Deterministic bytes that compress like a program: tokens from a seeded generator. */
export function programLike(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let state = createHash('sha256').update(seed).digest();
  const words: Buffer[] = [];
  for (let i = 0; i < 64; i++) {
    state = createHash('sha256').update(state).digest();
    words.push(state.subarray(0, 4 + (state[0]! % 12)));
  }
  let at = 0;
  let k = 0;
  while (at < length) {
    state = k++ % 8 === 0 ? createHash('sha256').update(state).digest() : state;
    const w = words[(state[k % 32]! + k) % words.length]!;
    at += w.copy(out, at);
    if (k % 5 === 0) out[at++ % length] = k & 0xff;
  }
  return out;
}

const DIR = 0o040755;
const FILE = 0o100755;
const TEXT = 0o100644;
const LINK = 0o120777;

export const EARLY = newcArchive([
  { name: 'kernel', mode: DIR },
  { name: 'kernel/x86', mode: DIR },
  { name: 'kernel/x86/microcode', mode: DIR },
  {
    name: 'kernel/x86/microcode/GenuineIntel.bin',
    mode: TEXT,
    data: programLike('ucode', 300_000),
  },
]);

/**
 * The tree of release `n` (1, 2, 3, ...): each step changes a library a little, patches
 * the large binary in two places, edits a text file and adds one; the rest stays.
 */
export function releaseEntries(n: number): FixtureEntry[] {
  const lib = programLike('libcrypto', 400_000);
  const big = programLike('kubesolo-binary', 1_200_000);
  for (let r = 2; r <= n; r++) {
    for (let i = 0; i < 40; i++) lib[1000 + r * 7919 + i * 9973] = r;
    big.write(`version-${r}`, 100_000 + r);
    big.write(`build-id-${r}`, 900_000 + r);
  }
  const entries: FixtureEntry[] = [
    { name: '.', mode: DIR },
    { name: 'bin', mode: DIR },
    { name: 'bin/busybox', mode: FILE, data: programLike('busybox', 250_000) },
    { name: 'bin/sh', mode: LINK, data: Buffer.from('busybox') },
    { name: 'dev', mode: DIR },
    { name: 'dev/console', mode: 0o020600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'etc', mode: DIR },
    { name: 'etc/os-release', mode: TEXT, data: Buffer.from(`NAME=test\nVERSION_ID=v${n}\n`) },
    { name: 'lib', mode: DIR },
    { name: 'lib/libcrypto.so.3', mode: TEXT, data: lib },
    { name: 'lib/libc.so.6', mode: TEXT, data: programLike('libc', 200_000) },
    { name: 'usr', mode: DIR },
    { name: 'usr/bin', mode: DIR },
    { name: 'usr/bin/kubesolo', mode: FILE, data: big },
  ];
  for (let i = 0; i < 30; i++) {
    entries.push({
      name: `usr/bin/tool${i}`,
      mode: FILE,
      data: programLike(`tool${i}`, 3_000 + i * 500),
    });
  }
  for (let r = 2; r <= n; r++) {
    entries.push({
      name: `etc/added-in-v${r}`,
      mode: TEXT,
      data: programLike(`added${r}`, 20_000),
    });
  }
  return entries;
}

/** Release `n` as an ordinary build makes it: early archive, then gzip -9 of the tree. */
export function releaseImage(n: number, order: 'sorted' | 'reversed' = 'sorted'): Buffer {
  const entries = releaseEntries(n);
  // Parents first either way: a build tool's directory order, not an invalid archive.
  const ordered =
    order === 'sorted'
      ? entries
      : [...entries.slice(0, 1), ...entries.slice(1).reverse()].sort(
          (a, b) => a.name.split('/').length - b.name.split('/').length,
        );
  return Buffer.concat([EARLY, gzipSync(newcArchive(ordered), { level: 9 })]);
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
