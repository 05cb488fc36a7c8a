/**
 * A FAT slot (`slot_fs=vfat`, the Raspberry Pi's boot partitions) is checked, and
 * repaired, before the store mounts it read-write (docs/boot.md "FAT slots").
 *
 * FAT has no journal and Linux writes its directory entries and its allocation table in
 * no particular order, so a power cut or a kill during a write can leave lost clusters,
 * a file under two names, an entry pointing at clusters the table marks free, and the
 * volume's dirty bit set. Such a slot never boots (the write had not reached `version`,
 * and autoboot.txt is pointed at a slot only after it was written and read back), but
 * the next write must not build on it: freeing a cluster two files share would free one
 * of the firmware files the agent does not write. So every read-write mount of a FAT
 * slot starts on a filesystem `fsck.fat -n` (dosfstools) finds clean, after
 * `fsck.fat -a -w` where it did not.
 *
 * Only a partition blkid identifies as FAT is handed to fsck.fat: run on anything else
 * it could "repair" a filesystem it does not understand.
 */
import { OperationError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Slot } from '../bootenv/types.js';
import { run } from './block-device.js';

/** fsck.fat's exit codes (fsck.fat(8)): 0 clean; 1 errors found (and, with -a, fixed); 2 not accessed. */
const CLEAN = 0;
const ERRORS = 1;

export interface FatCheckOptions {
  slot: Slot;
  label: string;
  log: Logger;
}

/** Refuse a partition that is not FAT (SLOT_MOUNT_FAILED), as `mount -t ext4` refuses a non-ext4 one. */
async function assertFat(device: string, o: FatCheckOptions): Promise<void> {
  const r = await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device]);
  const type = r.stdout.trim();
  if (type !== 'vfat') {
    throw new OperationError(
      'SLOT_MOUNT_FAILED',
      `slot ${o.slot} (${device}) holds ${type === '' ? 'no filesystem blkid knows' : type}, not FAT (slot_fs=vfat)`,
      { details: { slot: o.slot, label: o.label, device, fsType: type } },
    );
  }
}

function lastLines(text: string, n = 6): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/**
 * Make sure the FAT on `device` (not mounted) is consistent before it is written:
 * checked read-only, repaired when the check finds errors, checked again. A FAT that
 * is still not clean is SLOT_REPAIR_FAILED and nothing is written to it.
 */
export async function checkAndRepairFat(device: string, o: FatCheckOptions): Promise<void> {
  await assertFat(device, o);
  const first = await run('fsck.fat', ['-n', device]);
  if (first.code === CLEAN) return;
  if (first.code === ERRORS) {
    const fix = await run('fsck.fat', ['-a', '-w', device]);
    const again = await run('fsck.fat', ['-n', device]);
    if (again.code === CLEAN) {
      o.log.warn(
        `slot ${o.slot}: its FAT was not clean (an interrupted write, or not unmounted) and was repaired before writing`,
        {
          slot: o.slot,
          device,
          found: lastLines(first.stdout + first.stderr),
          repair: lastLines(fix.stdout + fix.stderr),
        },
      );
      return;
    }
    throw new OperationError(
      'SLOT_REPAIR_FAILED',
      `slot ${o.slot} (${device}): fsck.fat -a could not make its FAT clean; nothing was written (reformat the slot, docs/boot.md "FAT slots")`,
      {
        details: {
          slot: o.slot,
          label: o.label,
          device,
          code: again.code,
          output: lastLines(again.stdout + again.stderr),
        },
      },
    );
  }
  throw new OperationError(
    'SLOT_REPAIR_FAILED',
    `slot ${o.slot} (${device}): fsck.fat could not check it (exit ${first.code}); nothing was written`,
    {
      details: {
        slot: o.slot,
        label: o.label,
        device,
        code: first.code,
        output: lastLines(first.stdout + first.stderr),
      },
    },
  );
}
