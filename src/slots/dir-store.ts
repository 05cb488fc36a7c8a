/**
 * `dir` slot store (docs/design.md §3.2 `slot_backend=dir`): each slot is a plain directory
 * (`slot_a_dir`, `slot_b_dir`, resolved under --root by the caller). For tests, the
 * demo, and systems that mount the slot partitions themselves. A missing directory
 * is an empty slot; writing (and measuring free space) creates it. A slot directory
 * on a mounted ext4 partition has its journal checkpointed before activation, so that
 * GRUB (which does not replay journals) sees the new files after a power cut.
 */
import { mkdir } from 'node:fs/promises';
import { ioError } from '../errors.js';
import type { Slot } from '../bootenv/types.js';
import type { Logger } from '../log.js';
import { checkpointJournal } from './journal-checkpoint.js';
import { assertDistinctSlotDirs, assertSlotDirsApartOnDisk } from './slot-identity.js';
import { slotStoreOverDirs, type SlotWriteOptions } from './slot-files.js';
import type { SlotStore } from './types.js';

export interface DirSlotStoreOptions {
  log: Logger;
  /** The agent's own files (under --root): no slot directory may hold or contain one. */
  agentFiles?: readonly string[];
  /** Fault-injection hook (tests). */
  onWriteStep?: SlotWriteOptions['onStep'];
}

export function createDirSlotStore(
  dirs: Record<Slot, string>,
  options: DirSlotStoreOptions,
): SlotStore {
  const log = options.log;
  /** Before any write: not the other slot's storage, not a home of the agent's files. */
  async function assertWritable(slot: Slot): Promise<void> {
    await assertDistinctSlotDirs(dirs, slot);
    await assertSlotDirsApartOnDisk(dirs, options.agentFiles ?? []);
  }
  async function ensure(slot: Slot): Promise<string> {
    const dir = dirs[slot];
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw ioError('SLOT_NOT_FOUND', `cannot create slot ${slot} directory ${dir}`, err, {
        slot,
        dir,
      });
    }
    return dir;
  }

  return slotStoreOverDirs(
    {
      async withDir(slot, mode, fn) {
        // Reading never creates the slot directory: a missing one is an empty slot.
        if (mode !== 'rw') return fn(dirs[slot]);
        const dir = await ensure(slot);
        // Prove the target is not the running slot (same directory or inode) before any write.
        await assertWritable(slot);
        return fn(dir);
      },
      async flushForBootloader(slot: Slot) {
        await checkpointJournal(dirs[slot], { log });
      },
    },
    options,
  );
}
