/**
 * Where the OS images live: one store with two slots (DESIGN §1). `block` finds ext4
 * partitions by label; `dir` uses plain directories.
 */
import type { Slot } from '../bootenv/types.js';

/** File names inside a slot (DESIGN §1). */
export const SLOT_FILES = {
  kernel: 'vmlinuz',
  initramfs: 'kubesolo-os.gz',
  version: 'version',
} as const;

export interface SlotImageSource {
  /** Staged, already verified files to copy into the slot. */
  kernelPath: string;
  initramfsPath: string;
  version: string;
}

export interface SlotDigests {
  kernelSha256: string;
  initramfsSha256: string;
}

export interface SlotStore {
  /** The slot's `version` file (trimmed), or undefined when it has none. */
  readVersion(slot: Slot): Promise<string | undefined>;
  /** Bytes available for writing a new image into the slot (statfs). */
  freeBytes(slot: Slot): Promise<number>;
  /**
   * Write an image atomically (temp → fsync → rename → fsync dir, version file last),
   * then read back and re-hash. Throws (and leaves the old files in place when the
   * new ones could not be written) on any failure.
   */
  write(slot: Slot, image: SlotImageSource, expected: SlotDigests): Promise<void>;
  /** Re-hash the slot's files against `expected`; throws VerificationError on mismatch. */
  verify(slot: Slot, expected: SlotDigests): Promise<void>;
  /** Whether the slot holds a kernel, an initramfs and a version (something GRUB could boot). */
  hasBootableImage(slot: Slot): Promise<boolean>;
  /**
   * Make what is in the slot readable by GRUB now, not after the kernel gets round
   * to it: checkpoint a journaled filesystem that stays mounted (journal-checkpoint.ts).
   * Called before GRUB is pointed at the slot. Never throws for a checkpoint that
   * cannot be made (a warning is logged).
   */
  flushForBootloader(slot: Slot): Promise<void>;
}
