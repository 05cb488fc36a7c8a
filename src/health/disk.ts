/**
 * disk_writable: write 1 KiB of random bytes under the data directory, fsync, read it
 * back, compare, remove. Catches a read-only remount (ext4 errors=remount-ro), a full
 * partition and a device that loses writes, which a new OS must not be committed with.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from '../errors.js';
import { fail, pass, type Outcome } from './types.js';

export const DISK_PROBE_BYTES = 1024;

export interface DiskProbeHooks {
  /** Test hook: runs after the write is fsynced, before the read-back. */
  afterWrite?: (path: string) => Promise<void> | void;
}

export async function checkDiskWritable(dir: string, hooks: DiskProbeHooks = {}): Promise<Outcome> {
  const data = randomBytes(DISK_PROBE_BYTES);
  const path = join(
    dir,
    `.kubesolo-update-health-${process.pid}-${data.subarray(0, 4).toString('hex')}`,
  );
  let created = false;
  try {
    const handle = await open(path, 'wx', 0o600);
    created = true;
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await hooks.afterWrite?.(path);
    const back = await readFile(path);
    if (!back.equals(data)) {
      return fail(
        'DISK_READBACK_MISMATCH',
        `${dir}: the bytes read back differ from those written`,
      );
    }
    await unlink(path);
    created = false;
    return pass(`${dir}: wrote, synced, read back and removed ${DISK_PROBE_BYTES} bytes`);
  } catch (err) {
    return fail('DISK_NOT_WRITABLE', `${dir}: ${errnoCode(err) ?? 'error'}: ${String(err)}`);
  } finally {
    if (created) await unlink(path).catch(() => undefined);
  }
}
