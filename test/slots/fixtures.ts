/** Staged images for slot store tests: random kernel/initramfs files and their digests. */
import { createHash, randomBytes } from 'node:crypto';
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
