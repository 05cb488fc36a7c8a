/**
 * `block` slot store (docs/design.md §1, §3.2 `slot_backend=block`): each slot is a
 * partition found by its label (KSOLOA, KSOLOB), ext4 or, with `slot_fs=vfat`, FAT (the
 * Raspberry Pi's boot partitions, docs/boot.md "FAT slots"). Every operation mounts the
 * partition on a private temporary directory (or uses the mount that already
 * exists), does its work with the shared slot-file logic, and unmounts on every
 * exit path. Needs root.
 */
import { mkdtemp, readdir, rmdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpdateConfig } from '../config/types.js';
import { OperationError } from '../errors.js';
import type { Logger } from '../log.js';
import { otherSlot, type Slot } from '../bootenv/types.js';
import { findDeviceByLabel, findMount, run } from './block-device.js';
import { checkAndRepairFat } from './fat-check.js';
import { checkpointJournal } from './journal-checkpoint.js';
import { assertDistinctSlotDevices } from './slot-identity.js';
import { slotStoreOverDirs, type SlotDirMode, type SlotWriteOptions } from './slot-files.js';
import { VERSION_FILE, type SlotStore } from './types.js';

/** The filesystem a block slot holds (update.conf `slot_fs`). */
export type SlotFilesystem = NonNullable<UpdateConfig['slotFs']>;

export interface BlockSlotStoreOptions {
  /** Filesystem labels of the slot partitions (docs/design.md §1: KSOLOA, KSOLOB). */
  labels: Record<Slot, string>;
  /** The slots' filesystem (default ext4). */
  fsType?: SlotFilesystem;
  /** Where to look for `dev/disk/by-label/` (default `/`); `blkid` scans the real devices. */
  root?: string;
  log: Logger;
  /** Directory for temporary mount points (default the OS temp dir). */
  mountBase?: string;
  /** Fault-injection hook (tests). */
  onWriteStep?: SlotWriteOptions['onStep'];
}

/** Options for our own mounts: an OS image is data here, never something to run. */
const MOUNT_OPTIONS = 'nosuid,nodev,noexec';

/**
 * Per filesystem, the options of each mount mode. ext4's ro-noload does not replay the
 * journal, so reading the running slot writes nothing; FAT has no journal, and a
 * read-only FAT mount writes nothing. A FAT mounted for writing gets `dirsync`: each
 * rename then reaches the medium before the call returns, in the order Linux's vfat
 * makes it (the new name before the old one is removed), instead of whenever writeback
 * gets to it.
 */
const MODE_OPTIONS: Record<SlotFilesystem, Record<SlotDirMode, string>> = {
  ext4: { ro: 'ro,', 'ro-noload': 'ro,noload,', rw: '' },
  vfat: { ro: 'ro,', 'ro-noload': 'ro,', rw: 'dirsync,' },
};

/**
 * `fsck.fat -a` saves the clusters an interrupted write left without a file as
 * FSCK0000.REC, FSCK0001.REC, ... in the root directory (fat-check.ts). They are never
 * part of an image, and a slot has room for two images only: removed on every
 * read-write mount of a FAT slot.
 */
async function removeSalvagedChains(dir: string, log: Logger): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!/^FSCK\d{4}\.REC$/i.test(name)) continue;
    await unlink(join(dir, name));
    log.warn('removed a file fsck.fat salvaged from an interrupted write', { file: name, dir });
  }
}

export function createBlockSlotStore(options: BlockSlotStoreOptions): SlotStore {
  const log = options.log;
  const root = options.root ?? '/';
  const fsType = options.fsType ?? 'ext4';

  async function withSlot<T>(
    slot: Slot,
    mode: SlotDirMode,
    fn: (dir: string) => Promise<T>,
  ): Promise<T> {
    const label = options.labels[slot];
    const device = await findDeviceByLabel(label, root);
    const existing = await findMount(device);
    if (existing !== undefined) {
      if (mode === 'rw' && existing.options.includes('ro')) {
        throw new OperationError(
          'SLOT_MOUNT_FAILED',
          `slot ${slot} (${device}) is mounted read-only at ${existing.mountPoint}`,
          { details: { slot, label, device, mountPoint: existing.mountPoint } },
        );
      }
      log.debug('slot already mounted; using it', {
        slot,
        device,
        mountPoint: existing.mountPoint,
      });
      return fn(existing.mountPoint);
    }

    // A FAT left inconsistent by an interrupted write is repaired before it is written.
    if (fsType === 'vfat' && mode === 'rw') await checkAndRepairFat(device, { slot, label, log });
    const dir = await mkdtemp(join(options.mountBase ?? tmpdir(), 'kubesolo-slot-'));
    const opts = MODE_OPTIONS[fsType][mode] + MOUNT_OPTIONS;
    const m = await run('mount', ['-t', fsType, '-o', opts, device, dir]);
    if (m.code !== 0) {
      await rmdir(dir).catch(() => undefined);
      throw new OperationError(
        'SLOT_MOUNT_FAILED',
        `cannot mount slot ${slot} (${device}): ${m.stderr.trim()}`,
        {
          details: { slot, label, device, fsType, code: m.code },
        },
      );
    }
    log.debug('mounted slot', { slot, device, dir, mode });
    let result: T;
    try {
      if (fsType === 'vfat' && mode === 'rw') await removeSalvagedChains(dir, log);
      result = await fn(dir);
    } catch (err) {
      await unmount(dir, device).catch((uerr: unknown) =>
        log.error('cannot unmount slot after a failure', { slot, dir, error: String(uerr) }),
      );
      throw err;
    }
    await unmount(dir, device);
    return result;
  }

  /**
   * Unmount (which also flushes the filesystem). A busy mount is retried, then
   * detached lazily so that nothing stays in the mount table; the directory is
   * removed either way.
   */
  async function unmount(dir: string, device: string): Promise<void> {
    let last = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await run('umount', [dir]);
      if (r.code === 0) {
        await rmdir(dir).catch(() => undefined);
        return;
      }
      last = r.stderr.trim();
      await new Promise((res) => setTimeout(res, 200 * (attempt + 1)));
    }
    const lazy = await run('umount', ['-l', dir]);
    await rmdir(dir).catch(() => undefined);
    if (lazy.code !== 0) {
      throw new OperationError(
        'SLOT_UMOUNT_FAILED',
        `cannot unmount ${device} from ${dir}: ${last}`,
        {
          details: { device, dir },
        },
      );
    }
    log.warn('slot was busy; detached it lazily', { device, dir, error: last });
  }

  /** Both labels on one partition would make a write to one slot a write to the other. */
  async function assertDistinctDevices(target: Slot): Promise<void> {
    const device = (slot: Slot) => findDeviceByLabel(options.labels[slot], root);
    const other = await device(otherSlot(target)).catch((err: unknown) => {
      // No filesystem carries the other label: nothing the target could alias.
      if (err instanceof OperationError && err.code === 'SLOT_NOT_FOUND') return undefined;
      throw err;
    });
    if (other === undefined) return;
    const devices = { [target]: await device(target), [otherSlot(target)]: other };
    await assertDistinctSlotDevices(devices as Record<Slot, string>, target);
  }

  return slotStoreOverDirs(
    {
      // A writer's slot stays mounted for the whole download: the partial file lives on
      // it, so a kill or power cut leaves it there for the next run to resume (a mount
      // left behind by a kill is found and reused by withSlot).
      async withDir(slot, mode, fn) {
        // Prove the target is not the running slot's device before anything is written.
        if (mode === 'rw') await assertDistinctDevices(slot);
        return withSlot(slot, mode, fn);
      },
      // Our own mounts are gone by now (unmounting checkpoints the journal); only a
      // mount that was already there needs its journal checkpointed explicitly.
      // A version file that is not a version is named by the slot's label: the mount
      // point it was read under is temporary.
      versionFileName: (slot) => `${VERSION_FILE} of slot ${slot} (label ${options.labels[slot]})`,
      async flushForBootloader(slot: Slot) {
        const existing = await findMount(await findDeviceByLabel(options.labels[slot], root));
        if (existing !== undefined) await checkpointJournal(existing.mountPoint, { log });
      },
    },
    options,
  );
}
