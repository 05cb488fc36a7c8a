/**
 * Make a slot's files visible to GRUB before GRUB is told to boot them.
 *
 * GRUB reads ext2/3/4 and XFS without replaying the journal. After a write to a
 * mounted ext4 filesystem, fsync puts the new directory entries and inodes in the
 * journal; they reach their home blocks only when the kernel checkpoints the journal,
 * which can be minutes later. A power cut in between leaves a disk that Linux would
 * repair on mount but that GRUB reads as "file /vmlinuz not found" (found by the
 * QEMU power-cut test). Freezing the filesystem (FIFREEZE, `fsfreeze -f`) flushes
 * and checkpoints the journal; thawing it right after resumes writes. Unmounting does
 * the same, which is why the block store needs this only for a mount it did not make.
 *
 * The root filesystem is never frozen: every process that writes to it (including
 * the one that must run `fsfreeze -u`) would stall. KubeSolo OS's root is read-only;
 * slots live on their own partitions.
 *
 * A checkpoint that cannot be made (no `fsfreeze`, not permitted) is a warning, not
 * a refusal: the worst outcome of a power cut before the kernel checkpoints by itself
 * is that GRUB falls back to the old slot, which the agent then reports honestly as
 * BOOT_FALLBACK.
 */
import { stat, statfs } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { run, type RunResult } from './block-device.js';

/** statfs f_type of the journaled filesystems GRUB reads without replaying the journal. */
const JOURNALED_WITHOUT_GRUB_REPLAY: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/3/4'], // EXT4_SUPER_MAGIC (shared by ext2 and ext3)
  [0x58465342, 'xfs'], // XFS_SUPER_MAGIC
]);

export type CheckpointOutcome =
  'checkpointed' | 'not-journaled' | 'root-filesystem' | 'unavailable' | 'failed';

type RunTool = (cmd: string, args: string[]) => Promise<RunResult>;

export interface CheckpointOptions {
  log: Logger;
  /** The command runner (tests count calls through it). */
  runTool?: RunTool;
  /** The filesystem never to freeze (default `/`). */
  rootDir?: string;
}

export async function checkpointJournal(
  dir: string,
  options: CheckpointOptions,
): Promise<CheckpointOutcome> {
  const { log } = options;
  const runTool = options.runTool ?? run;
  const fsType = JOURNALED_WITHOUT_GRUB_REPLAY.get((await statfs(dir)).type);
  if (fsType === undefined) return 'not-journaled';
  const [slotStat, rootStat] = await Promise.all([stat(dir), stat(options.rootDir ?? '/')]);
  if (slotStat.dev === rootStat.dev) {
    log.warn('slot is on the root filesystem; not freezing it to checkpoint the journal', {
      code: 'SLOT_CHECKPOINT_SKIPPED',
      dir,
    });
    return 'root-filesystem';
  }

  let frozen: RunResult;
  try {
    frozen = await runTool('fsfreeze', ['--freeze', dir]);
  } catch (err) {
    log.warn('cannot run fsfreeze; the slot journal is left for the kernel to checkpoint', {
      code: 'SLOT_CHECKPOINT_UNAVAILABLE',
      dir,
      error: String(err),
    });
    return 'unavailable';
  }
  if (frozen.code !== 0) {
    log.warn('fsfreeze failed; the slot journal is left for the kernel to checkpoint', {
      code: 'SLOT_CHECKPOINT_FAILED',
      dir,
      error: frozen.stderr.trim(),
    });
    return 'failed';
  }
  await thaw(dir, runTool, log);
  log.debug('slot journal checkpointed', { dir, fsType });
  return 'checkpointed';
}

/** Thaw, retrying: a filesystem left frozen would block every later write to the slot. */
async function thaw(dir: string, runTool: RunTool, log: Logger): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const r = await runTool('fsfreeze', ['--unfreeze', dir]);
      if (r.code === 0) return;
      last = r.stderr.trim();
    } catch (err) {
      last = String(err);
    }
    await new Promise((res) => setTimeout(res, 100 * (attempt + 1)));
  }
  // Reported loudly; a reboot (which activate is followed by) thaws it too.
  log.error('cannot thaw the slot filesystem after a checkpoint', {
    code: 'SLOT_THAW_FAILED',
    dir,
    error: last,
  });
}
