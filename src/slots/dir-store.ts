/**
 * `dir` slot store (DESIGN §3.2 `slot_backend=dir`): each slot is a plain directory
 * (`slot_a_dir`, `slot_b_dir`, resolved under --root by the caller). For tests, the
 * demo, and systems that mount the slot partitions themselves. A missing directory
 * is an empty slot; writing (and measuring free space) creates it.
 */
import { mkdir } from 'node:fs/promises';
import { OperationError, errnoCode } from '../errors.js';
import type { Slot } from '../bootenv/types.js';
import {
  dirFreeBytes,
  readSlotDirVersion,
  slotDirBootable,
  verifySlotDir,
  writeSlotDir,
  type SlotWriteOptions,
} from './slot-files.js';
import type { SlotDigests, SlotImageSource, SlotStore } from './types.js';

export interface DirSlotStoreOptions {
  /** Fault-injection hook (tests). */
  onWriteStep?: SlotWriteOptions['onStep'];
}

export function createDirSlotStore(
  dirs: Record<Slot, string>,
  options: DirSlotStoreOptions = {},
): SlotStore {
  async function ensure(slot: Slot): Promise<string> {
    const dir = dirs[slot];
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new OperationError('SLOT_NOT_FOUND', `cannot create slot ${slot} directory ${dir}`, {
        cause: err,
        details: { slot, dir, errno: errnoCode(err) },
      });
    }
    return dir;
  }

  return {
    readVersion: (slot) => readSlotDirVersion(dirs[slot]),
    async freeBytes(slot: Slot) {
      return dirFreeBytes(await ensure(slot));
    },
    async write(slot: Slot, image: SlotImageSource, expected: SlotDigests) {
      await writeSlotDir(await ensure(slot), image, expected, { onStep: options.onWriteStep });
    },
    verify: (slot, expected) => verifySlotDir(dirs[slot], expected),
    hasBootableImage: (slot) => slotDirBootable(dirs[slot]),
  };
}
