/**
 * Errors that teach: a permission or read-only-file-system error from the file system
 * becomes a stable reason code with a message naming the path and what to do,
 * instead of UNEXPECTED and Node's `EACCES: permission denied, mkdir '/var/lib/...'`.
 * An error that already has a code keeps it and gains the hint.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { errnoCode, KubesoloError, OperationError, toKubesoloError } from '../errors.js';
import type { FsReasonCode } from '../reason-codes.js';

interface SystemError {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
}

/** The reason codes a file-system errno maps to, with the words used in the message. */
const ERRNO: Record<string, { code: FsReasonCode; words: string }> = {
  EACCES: { code: 'PERMISSION_DENIED', words: 'permission denied' },
  EPERM: { code: 'PERMISSION_DENIED', words: 'operation not permitted' },
  EROFS: { code: 'READ_ONLY_FILESYSTEM', words: 'read-only file system' },
  ENOENT: { code: 'PATH_NOT_FOUND', words: 'no such file or directory' },
};

/** What the syscall was doing, for "cannot <verb> <path>". */
const VERB: Record<string, string> = {
  mkdir: 'create',
  open: 'open',
  rename: 'replace',
  unlink: 'remove',
  rmdir: 'remove',
  write: 'write',
  copyfile: 'copy',
  chmod: 'change the mode of',
  utime: 'touch',
  scandir: 'list',
};

function systemErrorIn(err: unknown): SystemError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && ERRNO[code] !== undefined) return e as unknown as SystemError;
  }
  return undefined;
}

function hintFor(code: string, permissionHint: string): string {
  if (code === 'READ_ONLY_FILESYSTEM') {
    return 'Pass --root DIR for a writable copy, or remount it read-write.';
  }
  if (code === 'PATH_NOT_FOUND') return 'Check the path (and --root DIR, if the tool has one).';
  return permissionHint;
}

/**
 * A recursive mkdir reports ENOENT when it cannot create a parent on a read-only
 * file system; ask the nearest existing ancestor what the real reason is.
 */
function realMkdirErrno(path: string): string {
  let p = dirname(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  try {
    accessSync(p, constants.W_OK);
    return 'ENOENT';
  } catch (err) {
    return errnoCode(err) ?? 'ENOENT';
  }
}

export function explainError(err: unknown, permissionHint: string): KubesoloError {
  const sys = systemErrorIn(err);
  if (sys === undefined) return toKubesoloError(err);
  // A coded error that failed on a missing file already says what is missing.
  if (sys.code === 'ENOENT' && err instanceof KubesoloError) return err;
  const code =
    sys.code === 'ENOENT' && sys.syscall === 'mkdir' && sys.path
      ? realMkdirErrno(sys.path)
      : sys.code;
  const errno = ERRNO[code] ?? ERRNO[sys.code]!;
  const hint = hintFor(errno.code, permissionHint);
  if (err instanceof KubesoloError) {
    if (err.details.hint !== undefined) return err;
    // Keep the code callers branch on; only add what to do about it.
    return new KubesoloError(err.code, `${err.message}: ${errno.words}. ${hint}`, err.exitCode, {
      cause: err.cause ?? err,
      details: { ...err.details, errno: sys.code, hint },
    });
  }
  const verb = (sys.syscall && VERB[sys.syscall]) ?? 'use';
  const what = sys.path ?? 'a file';
  // No `cause`: Node's text ("ENOENT ... mkdir" on a read-only file system) would
  // contradict the diagnosis; errno and path are in the details.
  return new OperationError(errno.code, `cannot ${verb} ${what}: ${errno.words}. ${hint}`, {
    details: { errno: code, ...(sys.path ? { path: sys.path } : {}), hint },
  });
}
