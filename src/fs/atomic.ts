/**
 * Crash-safe file replacement (docs/design.md §2): write a temp file in the same directory,
 * fsync it, rename it over the target, fsync the directory. After a power cut the
 * target is either the complete old file or the complete new one, never torn.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, unlink, mkdir } from 'node:fs/promises';
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

/**
 * The temp file name for `name`: `.<name>.tmp-<pid>-<random>`, hidden, unique, and
 * naming the writer's process so a later writer can tell a stale one.
 */
export function tempFileName(name: string): string {
  return `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Remove temp files (named by tempFileName) for any of `names` in `dir` whose writer
 * process is gone: a writer killed between creating and renaming its temp file leaves
 * it behind, and on a small partition such files would pile up over many crashes.
 * Best effort: errors are ignored.
 */
export async function removeStaleTempFiles(dir: string, names: readonly string[]): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const name = names.find((n) => entry.startsWith(`.${n}.tmp-`));
    if (name === undefined) continue;
    const pid = Number(entry.slice(name.length + 6).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
    await unlink(join(dir, entry)).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return typeof err === 'object' && err !== null && 'code' in err && err.code === 'EPERM';
  }
}

/** fsync whatever is at a path (a file or a directory), opened read-only. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a directory so a rename in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir);
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
  const tmp = join(dir, tempFileName(basename(path)));
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
