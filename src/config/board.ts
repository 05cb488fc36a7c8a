/**
 * The board a device is (docs/operating.md "Boards"): the name the OS image carries in
 * its board identity file, matched against a release's signed `compatible` list. It is
 * part of the image, not of its configuration (as RAUC's `compatible` in system.conf and
 * Mender's `device_type`): update.conf's `compatible` only overrides it in a lab.
 */
import { readControlText } from '../fs/control-file.js';
import { errnoCode, KubesoloError } from '../errors.js';

/** A board name: what a file name or a device-tree model would use. */
export const BOARD_NAME = /^[A-Za-z0-9][A-Za-z0-9._,+-]{0,63}$/;

export type BoardIdentity =
  /** The board's name, and where it was read (the file, or update.conf's override). */
  | { kind: 'known'; name: string; source: string }
  /** No identity file and no override: the device accepts any board's release, warning. */
  | { kind: 'missing'; source: string }
  /** A file that is there but does not hold one board name: the device refuses releases. */
  | { kind: 'invalid'; source: string; problem: string };

/**
 * The board identity: `override` (update.conf `compatible`, already validated by the key
 * table) if set, else the first line of `path`. A missing file is `missing`; anything
 * else that does not read as one board name is `invalid`, never guessed around.
 */
export async function readBoardIdentity(
  path: string,
  override: string | undefined,
  overrideSource: string,
): Promise<BoardIdentity> {
  if (override !== undefined) return { kind: 'known', name: override, source: overrideSource };
  let text: string;
  try {
    text = await readControlText(path, { maxBytes: 4096 });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'missing', source: path };
    const why = err instanceof KubesoloError ? err.code : (errnoCode(err) ?? 'unreadable');
    return { kind: 'invalid', source: path, problem: `cannot read it (${why})` };
  }
  const lines = text.split('\n');
  const name = lines[0]!.replace(/\r$/, '');
  if (lines.slice(1).some((l) => l.trim() !== '')) {
    return { kind: 'invalid', source: path, problem: 'more than one line' };
  }
  if (!BOARD_NAME.test(name)) {
    return {
      kind: 'invalid',
      source: path,
      problem: `${JSON.stringify(name.slice(0, 80))} is not a board name (1-64 of letters, digits, . _ , + -, starting with a letter or digit)`,
    };
  }
  return { kind: 'known', name, source: path };
}
