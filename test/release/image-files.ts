/**
 * The two image files a publish takes, written once for a test file into a temporary
 * directory that also holds what its tests publish (removed after the file's tests).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

export interface ImageFiles {
  readonly dir: string;
  /** A path inside the directory. */
  path(...parts: string[]): string;
  readonly kernel: string;
  readonly initramfs: string;
}

/**
 * Call at the top of a test file. One hook makes the directory and writes the files:
 * hooks at a file's top level are not awaited one after the other.
 */
export function useImageFiles(
  prefix: string,
  kernelBytes: Buffer,
  initramfsBytes: Buffer,
  initramfsName = 'kubesolo-os.gz',
): ImageFiles {
  let current: string | undefined;
  const path = (...parts: string[]) => {
    if (!current) throw new Error(`useImageFiles(${prefix}): used outside a test`);
    return join(current, ...parts);
  };
  before(async () => {
    current = await mkdtemp(join(tmpdir(), prefix));
    await writeFile(path('vmlinuz'), kernelBytes);
    await writeFile(path(initramfsName), initramfsBytes);
  });
  after(async () => {
    if (current) await rm(current, { recursive: true, force: true });
  });
  return {
    get dir() {
      return path();
    },
    path,
    get kernel() {
      return path('vmlinuz');
    },
    get initramfs() {
      return path(initramfsName);
    },
  };
}
