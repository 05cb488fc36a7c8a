/**
 * Slot store test fixtures: a work directory, staged images (random files and their
 * digests), corruption.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SlotDigests, SlotImageSource } from '../../src/slots/types.js';

/** A store test's fresh work directory with its empty `mnt` (the mount base) and `staging`. */
export async function makeStoreWork(
  prefix: string,
): Promise<{ work: string; mountBase: string; staging: string }> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const dirs = { work, mountBase: join(work, 'mnt'), staging: join(work, 'staging') };
  await mkdir(dirs.mountBase);
  await mkdir(dirs.staging);
  return dirs;
}

export interface StagedImage {
  image: SlotImageSource;
  digests: SlotDigests;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function stageImage(
  dir: string,
  version: string,
  sizes: { kernel: number; initramfs: number } = { kernel: 64 << 10, initramfs: 256 << 10 },
): Promise<StagedImage> {
  const kernel = randomBytes(sizes.kernel);
  const initramfs = randomBytes(sizes.initramfs);
  const kernelPath = join(dir, `vmlinuz-${version}`);
  const initramfsPath = join(dir, `kubesolo-os-${version}.gz`);
  await writeFile(kernelPath, kernel);
  await writeFile(initramfsPath, initramfs);
  return {
    image: { files: { vmlinuz: kernelPath, initramfs: initramfsPath }, version },
    digests: { vmlinuz: sha(kernel), initramfs: sha(initramfs) },
  };
}

/** Flip one bit of `path` at `offset` through the filesystem (the page cache). */
export function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ 0x01;
    writeSync(fd, b, 0, 1, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Flip one bit of `path` at `offset` on its block device, behind the page cache: the
 * cache is warmed with the good bytes first, so only a read of the medium sees the
 * change (an ordinary read would hash the cached pages and pass). `offset` must lie
 * in the file's first extent (filefrag, e2fsprogs). The device sector is read and
 * written with O_DIRECT (dd): the device's own page cache may hold a stale copy of a
 * block the filesystem wrote since.
 */
export function flipOnDevice(device: string, path: string, offset: number): void {
  // Written back first: a dirty page would later be written over the flip.
  const file = openSync(path, 'r+');
  try {
    fsyncSync(file);
  } finally {
    closeSync(file);
  }
  readFileSync(path);
  // In 512-byte units: exact whatever the filesystem's block size (a small ext4 has
  // 1 KiB blocks, so a 4 KiB unit would round the extent's start).
  const out = execFileSync('filefrag', ['-v', '-b512', path], { encoding: 'utf8' });
  const m = /^\s*0:\s+0\.\.\s*\d+:\s+(\d+)\.\./m.exec(out);
  if (m === null) throw new Error(`no extent for ${path}: ${out}`);
  const sector = Number(m[1]) + Math.floor(offset / 512);
  const dd = ['bs=512', 'count=1', 'status=none'];
  const data = execFileSync('dd', [`if=${device}`, 'iflag=direct', `skip=${sector}`, ...dd]);
  data[offset % 512]! ^= 0x01;
  execFileSync('dd', [`of=${device}`, 'oflag=direct,sync', `seek=${sector}`, ...dd], {
    input: data,
  });
  const cached = readFileSync(path).subarray(offset, offset + 1);
  if (cached[0] === data[offset % 512]) {
    throw new Error('page cache was not warm: the flip is visible to it');
  }
}

/** The steps of a slot write in their order (the contract of SlotWriteOptions.onStep). */
export const SLOT_WRITE_STEPS = [
  'temp-vmlinuz',
  'temp-initramfs',
  'temp-version',
  'old-version-removed',
  'vmlinuz-renamed',
  'initramfs-renamed',
  'verified',
  'version-renamed',
] as const;
