/**
 * `block` slot store (docs/design.md §1, §3.2 `slot_backend=block`): each slot is an ext4
 * partition found by its label (KSOLOA, KSOLOB). Every operation mounts the
 * partition on a private temporary directory (or uses the mount that already
 * exists), does its work with the shared slot-file logic, and unmounts on every
 * exit path. Needs root.
 */
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationError } from '../errors.js';
import type { Logger } from '../log.js';
import { otherSlot, type Slot } from '../bootenv/types.js';
import { findDeviceByLabel, findMount, run } from './block-device.js';
import { checkpointJournal } from './journal-checkpoint.js';
import { assertDistinctSlotDevices } from './slot-identity.js';
import {
  dirFreeBytes,
  ensureIncomingDir,
  installSlotDir,
  readSlotDirVersion,
  slotDirBootable,
  verifySlotDir,
  writeSlotDir,
  type SlotWriteOptions,
} from './slot-files.js';
import {
  VERSION_FILE,
  type SlotDigests,
  type SlotImageSource,
  type SlotStore,
  type SlotWriter,
} from './types.js';

export interface BlockSlotStoreOptions {
  /** Filesystem labels of the slot partitions (docs/design.md §1: KSOLOA, KSOLOB). */
  labels: Record<Slot, string>;
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

export function createBlockSlotStore(options: BlockSlotStoreOptions): SlotStore {
  const log = options.log;
  const root = options.root ?? '/';
  const writeOptions = { log, ...(options.onWriteStep ? { onStep: options.onWriteStep } : {}) };

  async function withSlot<T>(
    slot: Slot,
    mode: 'ro' | 'rw' | 'ro-noload',
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

    const dir = await mkdtemp(join(options.mountBase ?? tmpdir(), 'kubesolo-slot-'));
    // ro-noload: no journal replay either, so reading the running slot writes nothing.
    const opts = { ro: 'ro,', 'ro-noload': 'ro,noload,', rw: '' }[mode] + MOUNT_OPTIONS;
    const m = await run('mount', ['-t', 'ext4', '-o', opts, device, dir]);
    if (m.code !== 0) {
      await rmdir(dir).catch(() => undefined);
      throw new OperationError(
        'SLOT_MOUNT_FAILED',
        `cannot mount slot ${slot} (${device}): ${m.stderr.trim()}`,
        {
          details: { slot, label, device, code: m.code },
        },
      );
    }
    log.debug('mounted slot', { slot, device, dir, mode });
    let result: T;
    try {
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

  return {
    readVersion: (slot) =>
      withSlot(slot, 'ro', (dir) =>
        readSlotDirVersion(dir, `${VERSION_FILE} of slot ${slot} (label ${options.labels[slot]})`),
      ),
    freeBytes: (slot) => withSlot(slot, 'ro', dirFreeBytes),
    // The slot stays mounted for the whole download: the partial file lives on it, so
    // a kill or power cut leaves it there for the next run to resume (a mount left
    // behind by a kill is found and reused by withSlot).
    async openWriter<T>(slot: Slot, fn: (writer: SlotWriter) => Promise<T>): Promise<T> {
      // Prove the target is not the running slot's device before anything is written.
      await assertDistinctDevices(slot);
      return withSlot(slot, 'rw', async (dir) =>
        fn({
          dir,
          incomingDir: await ensureIncomingDir(dir, log),
          install: (image, expected) => installSlotDir(dir, image, expected, writeOptions),
        }),
      );
    },
    openReader: (slot, fn) => withSlot(slot, 'ro-noload', fn),
    async write(slot: Slot, image: SlotImageSource, expected: SlotDigests) {
      await assertDistinctDevices(slot);
      await withSlot(slot, 'rw', (dir) => writeSlotDir(dir, image, expected, writeOptions));
    },
    verify: (slot, expected) =>
      withSlot(slot, 'ro', async (dir) => {
        await verifySlotDir(dir, expected);
      }),
    hasBootableImage: (slot) => withSlot(slot, 'ro', slotDirBootable),
    // Our own mounts are gone by now (unmounting checkpoints the journal); only a
    // mount that was already there needs its journal checkpointed explicitly.
    async flushForBootloader(slot: Slot) {
      const existing = await findMount(await findDeviceByLabel(options.labels[slot], root));
      if (existing !== undefined) await checkpointJournal(existing.mountPoint, { log });
    },
  };
}
