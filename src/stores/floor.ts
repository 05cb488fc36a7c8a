/**
 * The anti-rollback floor (docs/operating.md "The anti-rollback floor"): the lowest
 * version `apply` may install, kept on the data partition next to state.json.
 *
 * It only rises: the health check records a committed slot's version, and a signed
 * release's `min_version` can raise it fleet-wide. `apply` refuses any release below it
 * with BELOW_FLOOR, whatever its signature, `--allow-downgrade` or `--force`: a validly
 * signed old release replayed by a mirror or an attacker is still old. Written
 * atomically; a file that is there but unreadable or not a floor stops `apply`
 * (FLOOR_CORRUPT) instead of being read as "no floor", which would switch the
 * protection off.
 */
import { compareVersions, parseVersion } from '../config/version.js';
import { ioError, type KubesoloError, OperationError } from '../errors.js';
import { atomicWriteFile, type AtomicWriteOptions } from '../fs/atomic.js';
import { readJsonRecord } from '../fs/control-file.js';

/** File name of the floor, in the state directory (data partition). */
export const FLOOR_FILE = 'floor.json';

/** What raised the floor to its version. */
export type FloorSource = 'commit' | 'min_version';

export interface Floor {
  version: string;
  /** RFC 3339. */
  setAt: string;
  source: FloorSource;
  /** `min_version`: the release whose metadata carried it. */
  release?: string;
}

function corrupt(path: string, why: string, cause?: unknown): KubesoloError {
  return new OperationError(
    'FLOOR_CORRUPT',
    `the anti-rollback floor ${path} ${why}; apply refuses to run without it. Write the last committed version into it (see docs/operating.md "The anti-rollback floor") or remove it to start a new floor`,
    { ...(cause === undefined ? {} : { cause }), details: { path } },
  );
}

/** Decode a floor file's object; throws FLOOR_CORRUPT. */
function floorOf(doc: Record<string, unknown>, path: string): Floor {
  const { version, set_at: setAt, source, release } = doc;
  if (typeof version !== 'string') throw corrupt(path, 'names no version');
  let parsed: string;
  try {
    parsed = parseVersion(version).raw;
  } catch (err) {
    throw corrupt(
      path,
      `holds a version a device cannot order (${JSON.stringify(version.slice(0, 64))})`,
      err,
    );
  }
  // The agent writes the version exactly; whitespace around it (a newline would break
  // every line it is printed in) is not a floor the agent wrote.
  if (parsed !== version) {
    throw corrupt(
      path,
      `holds a version with surrounding whitespace (${JSON.stringify(version.slice(0, 64))})`,
    );
  }
  return {
    version,
    setAt: typeof setAt === 'string' ? setAt : '',
    source: source === 'min_version' ? 'min_version' : 'commit',
    ...(typeof release === 'string' ? { release } : {}),
  };
}

/** The floor, or undefined when none was ever recorded. */
export async function readFloor(path: string): Promise<Floor | undefined> {
  // Never through a link: a dangling one would read as "no floor" (ENOENT) and switch
  // the protection off; the agent writes a plain file.
  const read = await readJsonRecord(path, 4096);
  if (read.kind === 'missing') return undefined;
  if (read.kind === 'bad') throw corrupt(path, read.why, read.cause);
  return floorOf(read.doc, path);
}

export interface FloorCandidate {
  version: string;
  source: FloorSource;
  release?: string;
}

/**
 * Raise the floor to `candidate` when it is above the current one (never lowers it).
 * Returns the floor in force afterwards and whether it changed.
 */
export async function raiseFloor(
  path: string,
  candidate: FloorCandidate,
  now: Date,
  options: Pick<AtomicWriteOptions, 'onStep'> = {},
): Promise<{ floor: Floor; raised: boolean }> {
  const current = await readFloor(path);
  if (current && compareVersions(candidate.version, current.version) <= 0) {
    return { floor: current, raised: false };
  }
  const floor: Floor = { ...candidate, setAt: now.toISOString() };
  const doc = {
    version: floor.version,
    set_at: floor.setAt,
    source: floor.source,
    ...(floor.release === undefined ? {} : { release: floor.release }),
  };
  try {
    await atomicWriteFile(path, JSON.stringify(doc, null, 2) + '\n', {
      mkdirp: true,
      ...options,
    });
  } catch (err) {
    throw ioError('FLOOR_WRITE_FAILED', `cannot record the anti-rollback floor in ${path}`, err, {
      path,
    });
  }
  return { floor, raised: true };
}
