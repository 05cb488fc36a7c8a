/**
 * The `dir` slot store: each slot is a plain directory (`slot_a_dir`, `slot_b_dir`).
 * For tests, the demo, and systems that mount their slot partitions themselves.
 */
import { mkdir } from 'node:fs/promises';
import type { Slot } from '../bootenv/types.js';
import type { SlotStore } from './types.js';
import {
  freeBytesIn,
  readSlotVersion,
  slotHasBootableImage,
  verifySlotFiles,
  writeSlotFiles,
} from './slot-files.js';

export function createDirSlotStore(dirs: Record<Slot, string>): SlotStore {
  return {
    readVersion: (slot) => readSlotVersion(dirs[slot]),
    async freeBytes(slot) {
      await mkdir(dirs[slot], { recursive: true });
      return freeBytesIn(dirs[slot]);
    },
    async write(slot, image, expected) {
      await mkdir(dirs[slot], { recursive: true });
      await writeSlotFiles(dirs[slot], image, expected);
    },
    verify: (slot, expected) => verifySlotFiles(dirs[slot], expected),
    hasBootableImage: (slot) => slotHasBootableImage(dirs[slot]),
  };
}
