/**
 * The block slot store against real ext4 filesystems on loop devices (root only;
 * skipped with the reason otherwise). Labels are unique per run so concurrent tests
 * on the same machine cannot clash.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, appendFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createBlockSlotStore, type BlockSlotStoreOptions } from '../../src/slots/block-store.js';
import { findDeviceByLabel, parseMountInfo, byLabelName } from '../../src/slots/block-device.js';
import type { SlotStore } from '../../src/slots/types.js';
import {
  loopSkipReason,
  makeLoopDisk,
  mountsOf,
  uniqueLabel,
  type LoopDisk,
  deviceNodeUnder,
} from '../helpers/loop.js';
import { flipByte, flipOnDevice, makeStoreWork, stageImage, type StagedImage } from './fixtures.js';
import { silentLogger } from '../../src/log.js';
import type { KubesoloError } from '../../src/errors.js';
import { rejectsWithCode } from '../helpers/rejects.js';

const exec = promisify(execFile);
const skip = await loopSkipReason();
if (skip) console.log(`# block slot store tests skipped: ${skip}`);

describe('block slot store on loop devices', { skip }, () => {
  let work: string;
  let mountBase: string;
  let staging: string;
  const disks: LoopDisk[] = [];
  let a: LoopDisk;
  let b: LoopDisk;
  let store: SlotStore;
  let v1: StagedImage;
  let v2: StagedImage;
  let huge: StagedImage;

  /** A store over this test's mount base: slot A labelled `labelA`, slot B the disk `b`. */
  function storeWithA(labelA: string, extra: Partial<BlockSlotStoreOptions> = {}): SlotStore {
    return createBlockSlotStore({
      log: silentLogger,
      labels: { A: labelA, B: b.label },
      mountBase,
      ...extra,
    });
  }

  async function disk(label: string, sizeMiB = 16): Promise<LoopDisk> {
    const d = await makeLoopDisk({ label, sizeMiB, dir: work });
    disks.push(d);
    return d;
  }

  /** Nothing of ours mounted, no mount point left behind. */
  async function assertNothingMounted(...ds: LoopDisk[]): Promise<void> {
    for (const d of ds) assert.deepEqual(await mountsOf(d.device), [], `${d.device} still mounted`);
    const mi = await import('node:fs/promises').then((fs) =>
      fs.readFile('/proc/self/mountinfo', 'utf8'),
    );
    assert.ok(!mi.includes(mountBase), 'a mount under the store mount base is left');
    assert.deepEqual(await readdir(mountBase), [], 'mount point directories left behind');
  }

  /** The files in a disk's filesystem, listed through a separate read-only mount. */
  async function filesOn(d: LoopDisk): Promise<string[]> {
    const mp = await mkdtemp(join(work, 'look-'));
    await exec('mount', ['-o', 'ro', d.device, mp]);
    try {
      return (await readdir(mp)).sort();
    } finally {
      await exec('umount', [mp]);
      await rm(mp, { recursive: true });
    }
  }

  before(async () => {
    ({ work, mountBase, staging } = await makeStoreWork('ks-blockstore-'));
    a = await disk(uniqueLabel('KTA'));
    b = await disk(uniqueLabel('KTB'));
    store = storeWithA(a.label);
    v1 = await stageImage(staging, 'v1.0.0', { kernel: 2 << 20, initramfs: 3 << 20 });
    v2 = await stageImage(staging, 'v2.0.0', { kernel: 2 << 20, initramfs: 4 << 20 });
    huge = await stageImage(staging, 'v3.0.0', { kernel: 1 << 20, initramfs: 20 << 20 });
  });
  after(async () => {
    for (const d of disks) await d.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('finds the partitions by label without udev (blkid fallback)', async () => {
    assert.equal(await findDeviceByLabel(a.label), a.device);
  });

  it('with a root other than /, only block devices under <root>/dev are looked at', async () => {
    // The host's loop device is labelled a.label, yet an empty root never finds it.
    const empty = join(work, 'empty-root');
    await mkdir(empty, { recursive: true });
    await rejectsWithCode(findDeviceByLabel(a.label, empty), 'SLOT_NOT_FOUND', 1);
    // The host's /dev appears under the root (a pod's /host/dev): found there, by node.
    const hostDev = join(work, 'host-dev-root');
    const node = await deviceNodeUnder(hostDev, a.device);
    assert.equal(await findDeviceByLabel(a.label, hostDev), node);
    // A by-label link that leads out of the root is refused, never followed.
    const leaky = join(work, 'leaky-root');
    await mkdir(join(leaky, 'dev', 'disk', 'by-label'), { recursive: true });
    await symlink(a.device, join(leaky, 'dev', 'disk', 'by-label', byLabelName(a.label)));
    await rejectsWithCode(findDeviceByLabel(a.label, leaky), 'SLOT_OUTSIDE_ROOT', 1);
    await assertNothingMounted(a);
  });

  it('writes a slot, reads it back, and unmounts after every operation', async () => {
    assert.equal(await store.hasBootableImage('A'), false);
    assert.equal(await store.readVersion('A'), undefined);
    const freeBefore = await store.freeBytes('A');
    await store.write('A', v1.image, v1.digests);
    await assertNothingMounted(a, b);
    assert.equal(await store.readVersion('A'), 'v1.0.0');
    assert.equal(await store.hasBootableImage('A'), true);
    await store.verify('A', v1.digests);
    const freeAfter = await store.freeBytes('A');
    assert.ok(
      freeBefore - freeAfter >= 5 << 20,
      `free space went from ${freeBefore} to ${freeAfter}`,
    );
    assert.equal(await store.hasBootableImage('B'), false);
    assert.deepEqual(await filesOn(a), [
      '.incoming',
      'kubesolo-os.gz',
      'lost+found',
      'version',
      'vmlinuz',
    ]);
    await assertNothingMounted(a, b);
  });

  it('a full partition: the write fails cleanly, the old image is untouched, nothing stays mounted', async () => {
    await store.write('B', v2.image, v2.digests);
    const free = await store.freeBytes('B');
    assert.ok(free < 21 << 20, `the test image must not fit: ${free} bytes free`);
    await rejectsWithCode(store.write('B', huge.image, huge.digests), 'SLOT_NO_SPACE', 3);
    await assertNothingMounted(a, b);
    assert.equal(await store.readVersion('B'), 'v2.0.0');
    await store.verify('B', v2.digests);
    assert.deepEqual(await filesOn(b), [
      '.incoming',
      'kubesolo-os.gz',
      'lost+found',
      'version',
      'vmlinuz',
    ]);
    // The space the failed write used is given back.
    assert.equal(await store.freeBytes('B'), free);
  });

  it('detects corruption on the partition', async () => {
    const c = await disk(uniqueLabel('KTC'));
    const s = storeWithA(c.label);
    await s.write('A', v1.image, v1.digests);
    const mp = await mkdtemp(join(work, 'corrupt-'));
    await exec('mount', [c.device, mp]);
    await appendFile(join(mp, 'kubesolo-os.gz'), 'tampered');
    await exec('umount', [mp]);
    await rejectsWithCode(s.verify('A', v1.digests), 'SLOT_VERIFY_FAILED', 4);
    await assertNothingMounted(c);
  });

  it('a missing label is SLOT_NOT_FOUND and mounts nothing', async () => {
    const s = storeWithA(uniqueLabel('KTX'));
    await rejectsWithCode(s.readVersion('A'), 'SLOT_NOT_FOUND', 1);
    await rejectsWithCode(s.write('A', v1.image, v1.digests), 'SLOT_NOT_FOUND', 1);
    await assertNothingMounted(b);
  });

  it('two filesystems with the same label are refused, not guessed', async () => {
    const label = uniqueLabel('KTD');
    await disk(label, 8);
    await disk(label, 8);
    const s = storeWithA(label);
    await rejectsWithCode(s.readVersion('A'), 'SLOT_LABEL_AMBIGUOUS', 1);
  });

  it('uses /dev/disk/by-label under root when it exists', async () => {
    const root = join(work, 'udev-root');
    await mkdir(join(root, 'dev', 'disk', 'by-label'), { recursive: true });
    // A name blkid cannot know: only the symlink can resolve it (relative, as udev's).
    const name = 'VIRT LABEL/1';
    const node = await deviceNodeUnder(root, a.device);
    await symlink(
      join('..', '..', basename(node)),
      join(root, 'dev', 'disk', 'by-label', byLabelName(name)),
    );
    await deviceNodeUnder(root, b.device);
    const s = storeWithA(name, { root });
    assert.equal(await s.readVersion('A'), 'v1.0.0');
    await assertNothingMounted(a);
  });

  it('read-back fails for a file corrupted after its rename, and the slot stays unbootable', async () => {
    const c = await disk(uniqueLabel('KTR'));
    const s = storeWithA(c.label, {
      onWriteStep: (step, dir) => {
        if (step === 'initramfs-renamed') flipByte(join(dir, 'kubesolo-os.gz'), 4096);
      },
    });
    const err = await rejectsWithCode(s.write('A', v1.image, v1.digests), 'SLOT_VERIFY_FAILED', 4);
    assert.equal(err.details.phase, 'readback');
    assert.equal(await s.hasBootableImage('A'), false);
    assert.equal(await s.readVersion('A'), undefined);
    await assertNothingMounted(c);
  });

  it('read-back reads the medium: a bit flipped on the device behind a clean page cache is caught', async () => {
    const c = await disk(uniqueLabel('KTM'));
    const s = storeWithA(c.label, {
      onWriteStep: (step, dir) => {
        if (step === 'initramfs-renamed') flipOnDevice(c.device, join(dir, 'kubesolo-os.gz'), 4096);
      },
    });
    await rejectsWithCode(s.write('A', v1.image, v1.digests), 'SLOT_VERIFY_FAILED', 4);
    assert.equal(await s.hasBootableImage('A'), false);
    await assertNothingMounted(c);
  });

  it('uses a partition where it is already mounted, and leaves that mount alone', async () => {
    const mp = await mkdtemp(join(work, 'premounted-'));
    await exec('mount', [b.device, mp]);
    try {
      await store.write('B', v1.image, v1.digests);
      assert.deepEqual(await mountsOf(b.device), [mp]);
      assert.deepEqual((await readdir(mp)).sort(), [
        '.incoming',
        'kubesolo-os.gz',
        'lost+found',
        'version',
        'vmlinuz',
      ]);
      assert.equal(await store.readVersion('B'), 'v1.0.0');
      assert.deepEqual(await readdir(mountBase), []);
      // Read-only there: a write is refused rather than attempted.
      await exec('mount', ['-o', 'remount,ro', mp]);
      await rejectsWithCode(store.write('B', v2.image, v2.digests), 'SLOT_MOUNT_FAILED', 1);
    } finally {
      await exec('umount', [mp]);
    }
  });

  it('a partition that is not ext4 is SLOT_MOUNT_FAILED, and the mount point is removed', async () => {
    const label = uniqueLabel('KTF');
    const image = join(work, 'vfat.img');
    await exec('truncate', ['-s', '8M', image]);
    await exec('mkfs.vfat', ['-n', label, image]);
    const { stdout } = await exec('losetup', ['--find', '--show', image]);
    const device = stdout.trim();
    try {
      const s = storeWithA(label);
      await rejectsWithCode(s.readVersion('A'), 'SLOT_MOUNT_FAILED', 1);
      assert.deepEqual(await mountsOf(device), []);
      assert.deepEqual(await readdir(mountBase), []);
    } finally {
      await exec('losetup', ['-d', device]);
    }
  });

  it('an unmount that fails even lazily is SLOT_UMOUNT_FAILED, naming the device and the reason', async () => {
    // A umount that refuses, as the kernel does for a mount it cannot detach, first on
    // PATH (the store runs umount through PATH); mount stays the real one.
    const bin = await mkdtemp(join(work, 'bin-'));
    await writeFile(
      join(bin, 'umount'),
      '#!/bin/sh\necho "umount: $*: target is busy." >&2\nexit 32\n',
      { mode: 0o755 },
    );
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    let err: KubesoloError;
    try {
      err = await rejectsWithCode(store.readVersion('A'), 'SLOT_UMOUNT_FAILED', 1);
    } finally {
      process.env.PATH = path;
      // The mount the store could not undo: undone here with the real umount.
      for (const mp of await mountsOf(a.device)) {
        await exec('umount', [mp]);
        await rm(mp, { recursive: true, force: true });
      }
    }
    assert.equal(err.details.device, await findDeviceByLabel(a.label));
    assert.match(err.message, /cannot unmount .*target is busy/);
    await assertNothingMounted(a);
  });
});

describe('mountinfo parsing', () => {
  it('reads the fields and unescapes octal escapes', () => {
    const [m] = parseMountInfo(
      '36 35 7:3 / /tmp/a\\040b rw,nosuid,relatime shared:1 - ext4 /dev/loop3 rw\n',
    );
    assert.deepEqual(m, {
      majorMinor: '7:3',
      fsRoot: '/',
      mountPoint: '/tmp/a b',
      options: ['rw', 'nosuid', 'relatime'],
      fsType: 'ext4',
      source: '/dev/loop3',
    });
  });
  it('encodes labels as udev does for by-label names', () => {
    assert.equal(byLabelName('KSOLOA'), 'KSOLOA');
    assert.equal(byLabelName('a b/c'), 'a\\x20b\\x2fc');
  });
});
