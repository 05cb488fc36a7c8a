/**
 * Real ext4 filesystems on loop devices for the block slot store tests: make an
 * image with `mkfs.ext4 -L`, attach it with `losetup --find --show`, and clean up
 * (unmount anything still mounted from it, detach, delete). Root only; where loop
 * devices cannot be used, `loopSkipReason()` says why so tests skip with that reason.
 *
 * Labels: tests run concurrently (and other projects' tests may use loop devices on
 * the same machine), so use `uniqueLabel()`, never the production KSOLOA/KSOLOB.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { isRoot, rootSkipReason, toolSkipReason } from './require-tool.js';

const exec = promisify(execFile);

export interface LoopDisk {
  /** /dev/loopN */
  device: string;
  image: string;
  label: string;
  /** Unmount whatever is still mounted from the device, detach it, delete the image. */
  cleanup(): Promise<void>;
}

/** A label no other test uses: prefix + 6 hex digits (ext4 labels hold 16 bytes). */
export function uniqueLabel(prefix = 'KT'): string {
  return `${prefix}${randomBytes(3).toString('hex').toUpperCase()}`;
}

let probe: Promise<string | false> | undefined;

/**
 * Why loop-device tests cannot run here, or false when they can (probed once, for real).
 * Outside root the tests skip with the reason; under root (CI) a missing tool or a
 * loop device that cannot be attached fails the test file instead of hiding it.
 */
export function loopSkipReason(): Promise<string | false> {
  probe ??= (async () => {
    if (process.platform !== 'linux') return 'loop devices need Linux';
    if (!isRoot) return rootSkipReason('loop devices and mounts');
    toolSkipReason(
      ['mkfs.ext4', 'losetup', 'blkid', 'mount', 'umount'],
      'e2fsprogs util-linux mount',
    );
    const dir = await mkdtemp(join(tmpdir(), 'ks-loop-probe-'));
    try {
      const img = join(dir, 'probe.img');
      await writeFile(img, '');
      await truncate(img, 1 << 20);
      const { stdout } = await exec('losetup', ['--find', '--show', img]);
      await exec('losetup', ['-d', stdout.trim()]);
      return false;
    } catch (err) {
      throw new Error(
        `running as root (as CI does) but cannot attach a loop device: ${(err as Error).message.split('\n')[0]}`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return probe;
}

export async function canUseLoopDevices(): Promise<boolean> {
  return (await loopSkipReason()) === false;
}

export interface Ext4Options {
  label: string;
  sizeMiB?: number;
  /** Directory for the image file (default a new temp dir). */
  dir?: string;
}

/** Make an ext4 image (no reserved blocks, so root sees the same free space as statfs's f_bavail). */
export async function makeExt4Image(options: Ext4Options): Promise<string> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'ks-ext4-')));
  const image = join(dir, `${options.label}.img`);
  await writeFile(image, '');
  await truncate(image, (options.sizeMiB ?? 16) << 20);
  await exec('mkfs.ext4', ['-q', '-F', '-m', '0', '-L', options.label, image]);
  return image;
}

export async function attachLoop(image: string): Promise<string> {
  const { stdout } = await exec('losetup', ['--find', '--show', image]);
  return stdout.trim();
}

/** Mount points (from /proc/self/mountinfo) of filesystems whose source is `device`. */
export async function mountsOf(device: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' - '))
    .filter(([, right]) => right?.split(' ')[1] === device)
    .map(([left]) => left!.split(' ')[4]!);
}

export async function detachLoop(device: string): Promise<void> {
  for (const mp of await mountsOf(device)) {
    await exec('umount', ['-l', mp]).catch(() => undefined);
  }
  await exec('losetup', ['-d', device]);
}

/** An ext4 image with `label`, attached to a loop device. */
export async function makeLoopDisk(options: Ext4Options): Promise<LoopDisk> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'ks-loopdisk-')));
  const image = await makeExt4Image({ ...options, dir });
  let device: string;
  try {
    device = await attachLoop(image);
  } catch (err) {
    if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    device,
    image,
    label: options.label,
    async cleanup() {
      await detachLoop(device).catch(() => undefined);
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
      else await rm(image, { force: true });
    },
  };
}

/**
 * A node for `device` (same major:minor) in `<root>/dev`, as the host's /dev appears in
 * a pod at /host/dev: with --root the agent looks up block devices only there.
 */
export async function deviceNodeUnder(root: string, device: string): Promise<string> {
  const rdev = (await stat(device)).rdev;
  // glibc's gnu_dev_major/minor for the 32-bit form Node reports.
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  await mkdir(join(root, 'dev'), { recursive: true });
  const node = join(root, 'dev', basename(device));
  await exec('mknod', [node, 'b', String(major), String(minor)]);
  return node;
}

/**
 * Loop disks for the enclosing describe(): one ext4 disk of each size in `sizesMiB`,
 * labelled uniqueLabel(`labelPrefix`), their images in a fresh work directory; made
 * before its tests, detached and deleted (the directory too) after them. The hooks are
 * registered here; read `work` and `disks` inside hooks and tests.
 */
export function useLoopDisks(
  labelPrefix: string,
  sizesMiB: number[],
): { work: string; disks: LoopDisk[] } {
  const fixture = { work: '', disks: [] as LoopDisk[] };
  before(async () => {
    fixture.work = await mkdtemp(join(tmpdir(), 'ks-loopdisks-'));
    for (const sizeMiB of sizesMiB) {
      const label = uniqueLabel(labelPrefix);
      fixture.disks.push(await makeLoopDisk({ label, sizeMiB, dir: fixture.work }));
    }
  });
  after(async () => {
    for (const d of fixture.disks) await d.cleanup();
    if (fixture.work) await rm(fixture.work, { recursive: true, force: true });
  });
  return fixture;
}
