/**
 * Excludes concurrent runs (a CronJob firing while an operator runs `apply`). The lock
 * is a file created with O_EXCL that names its owner by three facts: pid, the process's
 * start time (field 22 of /proc/PID/stat, clock ticks since boot) and the kernel's
 * boot id. A lock is held only while all three still describe a live process: after
 * a reboot (new boot id) or once the owner is gone (no /proc/PID, or a different
 * process that reuses the pid, so another start time) it is stale and taken over. A
 * pid alone is not enough: after a reboot pid 1, or any reused pid, is always alive.
 *
 * Node has no flock(2) without a native addon, hence the file. The check needs the
 * owner in our pid namespace (the Kubernetes manifests run with hostPID); a lock from
 * another pid namespace is held until the boot id changes.
 *
 * `release()` is called on every exit path, signals included (session.ts); callers
 * release before running the reboot command, so no lock survives into the next boot
 * even on a file system that does not clear it.
 */
import { readFileSync, statSync } from 'node:fs';
import { constants } from 'node:fs';
import { access, mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode, KubesoloError, OperationError } from '../errors.js';
import { readControlText } from '../fs/control-file.js';
import { existingAncestor } from '../fs/existing-ancestor.js';
import type { Logger } from '../log.js';

export interface Lock {
  release(): Promise<void>;
}

/** Who holds a lock. `startTime`/`bootId` are absent in the bare-pid format of older agents. */
export interface LockOwner {
  pid: number;
  startTime?: string;
  bootId?: string;
  pidNamespace?: string;
}

export interface LockEnvironment {
  /** Where /proc is (tests may point elsewhere). */
  procDir: string;
}

const DEFAULT_ENV: LockEnvironment = { procDir: '/proc' };

const FRESH_UNWRITTEN_LOCK_MS = 10_000;

/**
 * Field 22 of /proc/PID/stat; undefined when the process does not exist or has exited
 * and only waits to be reaped (state Z or X): a SIGKILLed agent whose parent has not
 * collected it yet runs no code and holds nothing, so a rerun must not be LOCKED.
 */
export function processStartTime(
  pid: number,
  env: LockEnvironment = DEFAULT_ENV,
): string | undefined {
  let text: string;
  try {
    text = readFileSync(`${env.procDir}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: fields 3.. follow the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  return rest[22 - 3];
}

function currentBootId(env: LockEnvironment): string | undefined {
  try {
    return readFileSync(`${env.procDir}/sys/kernel/random/boot_id`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The pid namespace's inode (what `readlink /proc/self/ns/pid` shows as pid:[N]). */
function pidNamespace(env: LockEnvironment, pid: number | 'self'): string | undefined {
  try {
    return String(statSync(`${env.procDir}/${pid}/ns/pid`, { bigint: true }).ino);
  } catch {
    return undefined;
  }
}

function ownLockOwner(env: LockEnvironment = DEFAULT_ENV): LockOwner {
  const startTime = processStartTime(process.pid, env);
  const bootId = currentBootId(env);
  const ns = pidNamespace(env, 'self');
  return {
    pid: process.pid,
    ...(startTime !== undefined ? { startTime } : {}),
    ...(bootId !== undefined ? { bootId } : {}),
    ...(ns !== undefined ? { pidNamespace: ns } : {}),
  };
}

function parseLockOwner(text: string): LockOwner | undefined {
  const trimmed = text.trim();
  if (/^[1-9][0-9]{0,9}$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const raw = JSON.parse(trimmed) as Record<string, unknown>;
    if (typeof raw.pid !== 'number' || !Number.isInteger(raw.pid) || raw.pid <= 0) return undefined;
    const str = (k: keyof LockOwner): string | undefined =>
      typeof raw[k] === 'string' ? raw[k] : undefined;
    const owner: LockOwner = { pid: raw.pid };
    for (const k of ['startTime', 'bootId', 'pidNamespace'] as const) {
      const v = str(k);
      if (v !== undefined) owner[k] = v;
    }
    return owner;
  } catch {
    return undefined;
  }
}

/** Boot time (seconds since the epoch) from /proc/stat `btime`. */
function bootTimeSeconds(env: LockEnvironment): number | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync(`${env.procDir}/stat`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the owner named in a lock file still runs. `lockMtimeMs` dates a bare-pid
 * lock (older agents): one written before this boot is stale whatever its pid.
 */
function ownerAlive(
  owner: LockOwner,
  lockMtimeMs: number,
  env: LockEnvironment = DEFAULT_ENV,
): boolean {
  const bootId = currentBootId(env);
  if (owner.bootId !== undefined && bootId !== undefined && owner.bootId !== bootId) return false;
  if (owner.bootId === undefined) {
    const btime = bootTimeSeconds(env);
    if (btime !== undefined && lockMtimeMs < btime * 1000) return false;
  }
  const ours = pidNamespace(env, 'self');
  if (owner.pidNamespace !== undefined && ours !== undefined && owner.pidNamespace !== ours) {
    return true; // cannot see it from here; the boot id check above is all we have
  }
  const startTime = processStartTime(owner.pid, env);
  if (startTime === undefined) return false;
  return owner.startTime === undefined || owner.startTime === startTime;
}

async function readOwner(path: string): Promise<{ owner?: LockOwner; mtimeMs: number }> {
  try {
    const [text, st] = await Promise.all([
      readControlText(path, { maxBytes: 4096, noFollow: true }),
      stat(path),
    ]);
    const owner = parseLockOwner(text);
    return { ...(owner ? { owner } : {}), mtimeMs: st.mtimeMs };
  } catch {
    return { mtimeMs: 0 };
  }
}

/**
 * The real cause of a lock that cannot be created, as a stable code: a read-only or
 * full state partition (degraded mode, docs/operating.md), no permission (not root, no
 * --root), or anything else. The CLI adds what to do (src/cli/explain.ts).
 */
function lockFailure(path: string, err: unknown): OperationError {
  const errno = errnoCode(err);
  const code =
    errno === 'EROFS'
      ? 'STATE_READ_ONLY'
      : errno === 'ENOSPC' || errno === 'EDQUOT'
        ? 'STATE_NO_SPACE'
        : errno === 'EACCES' || errno === 'EPERM'
          ? 'PERMISSION_DENIED'
          : 'LOCK_FAILED';
  // Permission and read-only errors get their words and hint from explain.ts.
  const explained = errno === 'EROFS' || errno === 'EACCES' || errno === 'EPERM';
  const message = explained
    ? `cannot create ${path}`
    : `cannot create the lock ${path}: ${errno ?? String(err)}`;
  return new OperationError(code, message, { cause: err, details: { path, errno } });
}

/**
 * A recursive mkdir reports ENOENT when a parent cannot be created on a read-only file
 * system: ask the nearest existing ancestor for the real reason (EROFS, EACCES).
 */
async function realMkdirError(dir: string, err: unknown): Promise<unknown> {
  if (errnoCode(err) !== 'ENOENT') return err;
  try {
    await access(await existingAncestor(dir), constants.W_OK);
    return err;
  } catch (real) {
    return real;
  }
}

export async function acquireLock(path: string, env: LockEnvironment = DEFAULT_ENV): Promise<Lock> {
  const me = ownLockOwner(env);
  const content = JSON.stringify(me) + '\n';
  for (let attempt = 0; attempt < 3; attempt++) {
    let handle;
    try {
      await mkdir(dirname(path), { recursive: true }).catch(async (err: unknown) => {
        throw await realMkdirError(dirname(path), err);
      });
      handle = await open(path, 'wx', 0o644);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw lockFailure(path, err);
    }
    if (handle !== undefined) {
      try {
        await handle.writeFile(content);
        await handle.sync();
      } catch (err) {
        // A full partition lets the file be created but not written: leave nothing behind.
        await handle.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        throw lockFailure(path, err);
      }
      await handle.close();
      return {
        async release() {
          // Only remove the lock if it is still ours.
          const { owner } = await readOwner(path);
          if (owner?.pid === me.pid && owner.startTime === me.startTime) {
            await unlink(path).catch(() => undefined);
          }
        },
      };
    }
    const { owner, mtimeMs } = await readOwner(path);
    if (owner !== undefined && owner.pid !== process.pid && ownerAlive(owner, mtimeMs, env)) {
      throw new OperationError(
        'LOCKED',
        `another kubesolo-update run (pid ${owner.pid}) holds ${path}`,
        { details: { path, pid: owner.pid } },
      );
    }
    // An unreadable lock younger than a few seconds is another run between its create
    // and its write; an older one is a crash between the two.
    if (owner === undefined && Date.now() - mtimeMs < FRESH_UNWRITTEN_LOCK_MS) {
      throw new OperationError('LOCKED', `another kubesolo-update run is taking ${path}`, {
        details: { path },
      });
    }
    // Stale: owner gone, or rebooted since.
    await unlink(path).catch(() => undefined);
  }
  throw new OperationError('LOCKED', `could not take the lock ${path}`, { details: { path } });
}

/**
 * How a command takes the run lock. `optional`: a state partition that cannot hold
 * one (read-only, full) yields a lock that holds nothing, with a warning, for
 * `rollback` and `healthcheck`, which must work when the device needs them most.
 * Another run holding it is always LOCKED.
 */
export type LockMode = 'required' | 'optional';

/** Lock failures that mean "the state partition cannot be written", not "someone else runs". */
const UNWRITABLE_STATE = new Set(['STATE_READ_ONLY', 'STATE_NO_SPACE', 'LOCK_FAILED']);

export async function takeRunLock(path: string, mode: LockMode, log: Logger): Promise<Lock> {
  try {
    return await acquireLock(path);
  } catch (err) {
    if (mode !== 'optional' || !(err instanceof KubesoloError && UNWRITABLE_STATE.has(err.code))) {
      throw err;
    }
    log.warn('the state partition cannot hold the run lock; going on without it', {
      code: err.code,
      ...err.details,
    });
    return { release: () => Promise.resolve() };
  }
}
