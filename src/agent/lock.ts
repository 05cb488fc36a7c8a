/**
 * Excludes concurrent runs (a CronJob firing while an operator runs `apply`). The lock
 * is a file created with O_EXCL holding the owner's pid; a lock whose owner is gone
 * (killed, power cut) is stale and taken over, so a crash never wedges the agent.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode, OperationError } from '../errors.js';

export interface Lock {
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return errnoCode(err) === 'EPERM';
  }
}

async function readOwner(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export async function acquireLock(path: string): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
      await handle.close();
      return {
        async release() {
          // Only remove the lock if it is still ours.
          if ((await readOwner(path)) === process.pid) await unlink(path).catch(() => undefined);
        },
      };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') {
        throw new OperationError('LOCK_FAILED', `cannot create lock ${path}`, { cause: err });
      }
    }
    const owner = await readOwner(path);
    if (owner !== undefined && owner !== process.pid && processAlive(owner)) {
      throw new OperationError(
        'LOCKED',
        `another kubesolo-update run (pid ${owner}) holds ${path}`,
        {
          details: { path, pid: owner },
        },
      );
    }
    // Stale (owner gone) or unreadable (crash between create and write): take it over.
    await unlink(path).catch(() => undefined);
  }
  throw new OperationError('LOCKED', `could not take the lock ${path}`, { details: { path } });
}
