/**
 * The host side of the FAT slot scenario (fat-slots.test.ts): the guest's kernel and
 * initramfs (boot/e2e/build-fat-image), its disk of FAT32 slot partitions made with
 * mkfs.vfat and filled with mtools (nothing mounted on the host, whose kernel may have
 * no vfat driver), the damage an interrupted write leaves, and releases of random bytes
 * (the guest writes them into slots and reads them back; it never boots them).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MTOOLS_ENV, run, withBuildLock } from './host.js';
import { AMD64, E2E_DIR, REPO } from './image.js';
import { publish } from './release.js';
import { PI_BOOT_FILES, setFatEntry } from '../../helpers/fat-image.js';

export const FAT_BUILD_DIR = join(E2E_DIR, 'fat', 'build');

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A release's three slot files. */
export interface ImageFiles {
  version: string;
  vmlinuz: Buffer;
  initramfs: Buffer;
}

export function imageFiles(version: string, kernelMiB: number, initramfsMiB: number): ImageFiles {
  return {
    version,
    vmlinuz: randomBytes(kernelMiB << 20),
    initramfs: randomBytes(initramfsMiB << 20),
  };
}

/** The sha256 of every file a slot holding `image` (and the factory files) must hold. */
export function expectedFiles(image: ImageFiles): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(PI_BOOT_FILES)) out[name] = sha256(bytes);
  out.vmlinuz = sha256(image.vmlinuz);
  out['kubesolo-os.gz'] = sha256(image.initramfs);
  out.version = sha256(Buffer.from(`${image.version}\n`));
  return out;
}

/** Publish `image` with the run's key into `out` (kubesolo-release publish). */
export async function publishImage(dir: string, image: ImageFiles, out: string): Promise<string> {
  const src = join(dir, 'src', 'releases', image.version);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'vmlinuz'), image.vmlinuz);
  writeFileSync(join(src, 'kubesolo-os.gz'), image.initramfs);
  return publish(image.version, image.version, out, {
    buildDir: join(dir, 'src'),
    arch: 'amd64',
  });
}

/**
 * The guest's kernel and initramfs, with the run's public key. Built under the lock
 * ensureBuilt() takes for the GRUB image: both fetch the kernel into the same cache.
 */
export async function buildFatGuest(pubkey: string): Promise<{ vmlinuz: string; initrd: string }> {
  await withBuildLock(AMD64, () =>
    run(
      join(REPO, 'boot', 'e2e', 'build-fat-image'),
      ['--out', FAT_BUILD_DIR, '--cache', join(REPO, '.tmp', 'e2e-cache'), '--pubkey', pubkey],
      { maxBuffer: 64 << 20 },
    ),
  );
  return { vmlinuz: join(FAT_BUILD_DIR, 'vmlinuz'), initrd: join(FAT_BUILD_DIR, 'initramfs.zst') };
}

/** A FAT32 image holding the factory files and, unless undefined, `image`. */
export async function fatImage(
  path: string,
  label: string,
  sizeMiB: number,
  image: ImageFiles | undefined,
): Promise<void> {
  rmSync(path, { force: true });
  await run('truncate', ['-s', `${sizeMiB}M`, path]);
  await run('mkfs.vfat', ['-F', '32', '-n', label, path]);
  const stage = `${path}.files`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, 'overlays'), { recursive: true });
  const files: Record<string, Buffer> = { ...PI_BOOT_FILES };
  if (image) {
    files.vmlinuz = image.vmlinuz;
    files['kubesolo-os.gz'] = image.initramfs;
    files.version = Buffer.from(`${image.version}\n`);
  }
  await run('mmd', ['-i', path, '::/overlays'], { env: MTOOLS_ENV });
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(join(stage, name), bytes);
    await run('mcopy', ['-i', path, join(stage, name), `::/${name}`], { env: MTOOLS_ENV });
  }
  rmSync(stage, { recursive: true, force: true });
}

/**
 * What interrupted writes leave on a FAT (docs/boot.md "FAT slots"): the dirty bit a
 * read-write mount sets, lost clusters (allocated, in no file), and an entry (the
 * `version` file's) pointing at clusters the table marks free.
 */
export async function damageFat(image: string): Promise<void> {
  const fd = openSync(image, 'r+');
  writeSync(fd, Buffer.from([0x01]), 0, 1, 0x41);
  closeSync(fd);
  setFatEntry(image, 60_000, 0x0fffffff);
  const { stdout } = await run('mshowfat', ['-i', image, '::/version'], { env: MTOOLS_ENV });
  const first = /<(\d+)/.exec(stdout);
  if (!first) throw new Error(`mshowfat: no cluster for ::/version in ${stdout}`);
  setFatEntry(image, Number(first[1]), 0);
}

/** `fsck.fat -n`'s exit code: 0 clean, 1 errors found. */
export async function fsckCode(image: string): Promise<number> {
  return run('fsck.fat', ['-n', image]).then(
    () => 0,
    (e: { code: number }) => e.code,
  );
}

export interface Partition {
  label: string;
  sizeMiB: number;
  /** The file system image to place there. */
  image: string;
}

/** A GPT disk holding `parts` in order (sgdisk), each image written at its offset (dd). */
export async function gptDisk(disk: string, parts: Partition[]): Promise<void> {
  rmSync(disk, { force: true });
  const total = 2 + parts.reduce((n, p) => n + p.sizeMiB, 0);
  await run('truncate', ['-s', `${total}M`, disk]);
  const args = ['-o'];
  let at = 1;
  parts.forEach((p, i) => {
    const n = i + 1;
    args.push('-n', `${n}:${at * 2048}:+${p.sizeMiB}M`, '-t', `${n}:0700`, '-c', `${n}:${p.label}`);
    at += p.sizeMiB;
  });
  await run('sgdisk', [...args, disk]);
  at = 1;
  for (const p of parts) {
    await run('dd', [
      `if=${p.image}`,
      `of=${disk}`,
      'bs=1M',
      `seek=${at}`,
      'conv=notrunc,sparse',
      'status=none',
    ]);
    at += p.sizeMiB;
  }
}
