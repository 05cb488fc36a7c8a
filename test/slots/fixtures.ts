/** Slot store test fixtures: staged images (random files and their digests), corruption. */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SlotDigests, SlotImageSource } from '../../src/slots/types.js';

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
    image: { kernelPath, initramfsPath, version },
    digests: { kernelSha256: sha(kernel), initramfsSha256: sha(initramfs) },
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
