/**
 * Crash-safe file replacement (DESIGN §2): write a temp file in the same directory,
 * fsync it, rename it over the target, fsync the directory. After a power cut the
 * target is either the complete old file or the complete new one, never torn.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644). */
  mode?: number;
  /** Create the parent directory when missing. */
  mkdirp?: boolean;
  /**
   * Test hook: called after each step ('open', 'write', 'fsync', 'close', 'rename',
   * 'fsync-dir'). Throwing from it simulates a crash at that point.
   */
  onStep?: (step: AtomicWriteStep) => void;
}

export type AtomicWriteStep = 'open' | 'write' | 'fsync' | 'close' | 'rename' | 'fsync-dir';

/** fsync a directory so a rename in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function atomicWriteFile(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const step = options.onStep ?? (() => undefined);
  if (options.mkdirp) await mkdir(dir, { recursive: true });
  // Same directory as the target so rename() is atomic (same filesystem).
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let renamed = false;
  try {
    const handle = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      // Inside the try: a failure right after open must still close the handle.
      step('open');
      await handle.writeFile(data);
      step('write');
      await handle.sync();
      step('fsync');
    } finally {
      await handle.close();
    }
    step('close');
    await rename(tmp, path);
    renamed = true;
    step('rename');
    await fsyncDir(dir);
    step('fsync-dir');
  } catch (err) {
    if (!renamed) await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
