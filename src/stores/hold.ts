/**
 * The operator's hold (docs/operating.md "Holding a device"): while `hold.json` is on the
 * data partition, `apply` and `activate` refuse (HELD, exit 3) and `check` says why.
 * `hold [--reason TEXT]` writes it atomically, `unhold` removes it. No lock: one file
 * replaced or removed whole, so `hold` works while a long `apply` holds the run lock
 * (that apply then stops before it activates).
 *
 * A hold file that cannot be read still holds (fail closed: someone meant to stop
 * updates), with HOLD_CORRUPT as its problem; `unhold` removes it.
 */
import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errnoCode, ioError, UsageError } from '../errors.js';
import { atomicWriteFile, fsyncDir } from '../fs/atomic.js';
import { readJsonRecord } from '../fs/control-file.js';

export const HOLD_FILE = 'hold.json';

/** An operator's reason: one line of printable text, bounded. */
const MAX_HOLD_REASON = 256;

export interface Hold {
  /** The operator's words, if given (shown by status and check; never a metric label). */
  reason: string | undefined;
  /** RFC 3339, '' when unknown. */
  since: string;
  /** Set when the file is there but cannot be read: HOLD_CORRUPT and why. */
  problem?: { code: 'HOLD_CORRUPT'; message: string } | undefined;
}

/** A reason `hold --reason` accepts: printable, one line, bounded (USAGE otherwise). */
export function checkHoldReason(reason: string): string {
  const trimmed = reason.trim();
  // Control characters would break every line the reason is printed in.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(trimmed) || trimmed.length > MAX_HOLD_REASON) {
    throw new UsageError(
      'USAGE',
      `--reason takes one line of at most ${MAX_HOLD_REASON} printable characters`,
    );
  }
  return trimmed;
}

function corrupt(path: string, why: string): Hold {
  return {
    reason: undefined,
    since: '',
    problem: {
      code: 'HOLD_CORRUPT',
      message: `${path} ${why}; the device stays held until 'unhold' removes it`,
    },
  };
}

/** The hold, or undefined when the device is not held. */
export async function readHold(path: string): Promise<Hold | undefined> {
  const read = await readJsonRecord(path, 4096);
  if (read.kind === 'missing') return undefined;
  if (read.kind === 'bad') return corrupt(path, read.why);
  const { reason, since } = read.doc;
  return {
    reason: typeof reason === 'string' && reason !== '' ? reason : undefined,
    since: typeof since === 'string' ? since : '',
  };
}

/** Hold the device (a hold already there gets the new reason and time). */
export async function writeHold(
  path: string,
  reason: string | undefined,
  now: Date,
): Promise<Hold> {
  const hold: Hold = { reason, since: now.toISOString() };
  try {
    await atomicWriteFile(
      path,
      JSON.stringify({ reason: reason ?? '', since: hold.since }) + '\n',
      {
        mkdirp: true,
      },
    );
  } catch (err) {
    throw ioError('HOLD_WRITE_FAILED', `cannot write ${path}`, err, { path });
  }
  return hold;
}

/** Remove the hold; false when there was none. */
export async function removeHold(path: string): Promise<boolean> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw ioError('HOLD_WRITE_FAILED', `cannot remove ${path}`, err, { path });
  }
  await fsyncDir(dirname(path)).catch(() => undefined);
  return true;
}
