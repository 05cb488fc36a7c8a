/**
 * Where the OS images live: one store with two slots (docs/design.md §1). `block` finds ext4
 * partitions by label; `dir` uses plain directories.
 */
import type { Slot } from '../bootenv/types.js';
import { ARTIFACT_NAMES, imageFile, type ArtifactName } from '../metadata/images.js';
import type { ReadBack } from '../fs/read-back.js';

/** The file that marks a slot complete and names its release (docs/design.md §1). */
export const VERSION_FILE = 'version';

/** Every file a slot holds: each image under its file name (src/metadata/images.ts), and `version`. */
export const SLOT_FILES: readonly string[] = [...ARTIFACT_NAMES.map(imageFile), VERSION_FILE];

export interface SlotImageSource {
  /** Each image's verified file: in the slot's incoming directory for install(), anywhere for write(). */
  files: Record<ArtifactName, string>;
  version: string;
  /**
   * Read-backs already done while the files were downloaded (src/fs/read-back.ts,
   * TrailingReadBack). install() uses one instead of reading the file again only when
   * it is of the very file installed (same inode and size); otherwise it reads back.
   */
  readBack?: Partial<Record<ArtifactName, ReadBack | undefined>>;
}

/** Each image's SHA-256 (lowercase hex). */
export type SlotDigests = Record<ArtifactName, string>;

/** An open slot (a block slot stays mounted) while a new image is downloaded into it. */
export interface SlotWriter {
  /** The slot's directory: its current image files, while the new one downloads. */
  readonly dir: string;
  /**
   * Directory on the slot's own filesystem for the download: partial files, resume
   * sidecars and verified files waiting for install() live here, across runs.
   */
  readonly incomingDir: string;
  /**
   * Install verified files from incomingDir as the slot's image by renaming them (old
   * version removed first, `version` last), after one read-back pass from the medium.
   */
  install(image: SlotImageSource, expected: SlotDigests): Promise<void>;
}

export interface SlotStore {
  /** The slot's `version` file (trimmed), or undefined when it has none. */
  readVersion(slot: Slot): Promise<string | undefined>;
  /** Bytes available for a new image in the slot (statfs, plus its incoming directory). */
  freeBytes(slot: Slot): Promise<number>;
  /**
   * Open `slot` for writing a new image and run `fn` with it; a block slot is mounted
   * read-write for as long as `fn` runs. The agent downloads straight into
   * `incomingDir` and installs from there: no staging copy.
   */
  openWriter<T>(slot: Slot, fn: (writer: SlotWriter) => Promise<T>): Promise<T>;
  /**
   * Run `fn` with the slot's directory, read-only (a block slot mounted `ro,noload`: the
   * journal is not replayed, nothing on the running slot changes). The delta update
   * reads the running image's pieces from it (docs/delta.md).
   */
  openReader<T>(slot: Slot, fn: (dir: string) => Promise<T>): Promise<T>;
  /**
   * Copy an image from another filesystem (tests, tools) into the incoming directory
   * and install it: write atomically (temp → fsync → rename → fsync dir, version file last),
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
