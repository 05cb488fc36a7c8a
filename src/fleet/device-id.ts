/**
 * The device's private identifier for rollout buckets (src/fleet/rollout.ts,
 * docs/operating.md "Rolling a release out in waves").
 *
 * Order: the identifier kept on the data partition (`device-id` next to state.json),
 * else one derived from `/etc/machine-id`, else a random one. The first command that
 * may write (`apply`) keeps what it used on the data partition, so the bucket stays
 * the same whoever runs the agent: a pod that does not see the host's machine-id, a
 * shell on the host, an OS whose machine-id is made afresh at every boot.
 *
 * machine-id is confidential (machine-id(5)): like sd_id128_get_machine_app_specific(3)
 * the agent keeps only an HMAC of it under an application key, never the machine-id.
 * The identifier itself is never logged in full (`shortDeviceId`).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { errnoCode, ioError } from '../errors.js';
import { atomicWriteFile, type AtomicWriteOptions } from '../fs/atomic.js';
import { readControlText } from '../fs/control-file.js';

/** File name of the kept identifier, in the state directory (data partition). */
export const DEVICE_ID_FILE = 'device-id';

export interface DeviceIdPaths {
  /** `/etc/machine-id` under the device root. */
  machineId: string;
  /** `<state directory>/device-id`. */
  stored: string;
}

export type DeviceIdSource = 'stored' | 'machine-id' | 'generated';

export interface DeviceId {
  /** 64 lowercase hex characters. */
  id: string;
  source: DeviceIdSource;
}

const ID = /^[0-9a-f]{64}$/;
/** machine-id(5): 32 lowercase hex characters and a newline ("uninitialized" while booting). */
const MACHINE_ID = /^[0-9a-f]{32}$/;
/** The application key of the HMAC (a fixed random 128-bit value, as sd-id128 uses). */
const APP_KEY = Buffer.from('6b5f1c0e8d2a4e93b1f7a0c25e9d4c71', 'hex');

/** The first 8 characters, for logs and status: enough to tell devices apart, not to replay. */
export function shortDeviceId(id: string): string {
  return `${id.slice(0, 8)}…`;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return (await readControlText(path, { maxBytes: 4096 })).trim();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw ioError('DEVICE_ID_UNREADABLE', `cannot read ${path}`, err, { path });
  }
}

/** The identifier machine-id gives, or undefined when there is no usable machine-id. */
async function fromMachineId(path: string): Promise<string | undefined> {
  const text = await readOptional(path);
  if (text === undefined || !MACHINE_ID.test(text)) return undefined;
  return createHmac('sha256', Buffer.from(text, 'hex')).update(APP_KEY).digest('hex');
}

/**
 * The identifier without writing anything (`check`, `status`, `metrics`): the kept one,
 * else the one machine-id gives; undefined when neither exists yet. A kept file that is
 * not an identifier is passed over (`apply` replaces it).
 */
export async function readDeviceId(paths: DeviceIdPaths): Promise<DeviceId | undefined> {
  const stored = await readOptional(paths.stored);
  if (stored !== undefined && ID.test(stored)) return { id: stored, source: 'stored' };
  const derived = await fromMachineId(paths.machineId);
  return derived === undefined ? undefined : { id: derived, source: 'machine-id' };
}

/**
 * The identifier, kept on the data partition from now on (atomically: a power cut
 * leaves no file or the whole one, and a lost write only means the same identifier
 * is derived or drawn again before anything depended on it).
 */
export async function ensureDeviceId(
  paths: DeviceIdPaths,
  options: Pick<AtomicWriteOptions, 'onStep'> = {},
): Promise<DeviceId> {
  const found = await readDeviceId(paths);
  if (found?.source === 'stored') return found;
  const id = found?.id ?? randomBytes(32).toString('hex');
  try {
    await atomicWriteFile(paths.stored, `${id}\n`, { mode: 0o600, mkdirp: true, ...options });
  } catch (err) {
    throw ioError('DEVICE_ID_WRITE_FAILED', `cannot write ${paths.stored}`, err, {
      path: paths.stored,
    });
  }
  return { id, source: found?.source ?? 'generated' };
}
