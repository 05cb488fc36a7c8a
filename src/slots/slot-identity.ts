/**
 * The proof that writing the passive slot cannot touch the running one. A slot is
 * named by configuration (two directories, or two filesystem labels); a mistake there
 * (`slot_b_dir=/slots/B/../A`, a symlink, two labels on one partition) would make
 * `apply` overwrite the known-good OS while reporting success. So, before any write:
 *
 * - `dir` slots: both paths are resolved (realpath) and their directories compared by
 *   device and inode, which sees through `..`, `.`, trailing slashes, symlinks and bind
 *   mounts;
 * - `block` slots: both labels are resolved to their block devices and compared by
 *   device number (major:minor), which sees through `/dev/disk/by-label` symlinks and
 *   device-node aliases.
 *
 * Configuration and cloud-init validation also refuse the aliases that can be seen
 * without touching the disk (`slotSpellingsAlias`), so the mistake is reported where
 * it is made. Every refusal is a ConfigError `SLOT_ALIASED` (exit 2).
 */
import { realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { otherSlot, type Slot } from '../bootenv/types.js';
import { ConfigError, errnoCode, OperationError } from '../errors.js';
import { deviceNumber } from './block-device.js';

function aliased(what: string, details: Record<string, unknown>): ConfigError {
  return new ConfigError(
    'SLOT_ALIASED',
    `slots A and B are the same storage (${what}); refusing to write the running slot`,
    { details },
  );
}

/**
 * Aliases visible in the configuration alone: two directories that normalise to the
 * same absolute path, or two equal labels. `undefined` values are not compared.
 */
export function slotSpellingsAlias(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return posix.resolve('/', a) === posix.resolve('/', b);
}

/** Refuse aliased slot keys of a configuration (update.conf, cloud-init, flags). */
export function assertSlotKeysDistinct(keys: {
  slotADir?: string | undefined;
  slotBDir?: string | undefined;
  slotALabel?: string | undefined;
  slotBLabel?: string | undefined;
}): void {
  if (slotSpellingsAlias(keys.slotADir, keys.slotBDir)) {
    throw aliased(`slot_a_dir=${keys.slotADir ?? ''} and slot_b_dir=${keys.slotBDir ?? ''}`, {
      key: 'slot_b_dir',
      slotADir: keys.slotADir,
      slotBDir: keys.slotBDir,
    });
  }
  if (keys.slotALabel !== undefined && keys.slotALabel === keys.slotBLabel) {
    throw aliased(`slot_a_label and slot_b_label are both ${keys.slotALabel}`, {
      key: 'slot_b_label',
      label: keys.slotALabel,
    });
  }
}

interface DirIdentity {
  path: string;
  dev: bigint;
  ino: bigint;
}

async function dirIdentity(dir: string): Promise<DirIdentity | undefined> {
  let path: string;
  try {
    path = await realpath(dir);
  } catch (err) {
    // A slot directory that does not exist yet cannot hold the other slot's files.
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new OperationError('SLOT_IDENTITY_FAILED', `cannot resolve slot directory ${dir}`, {
      cause: err,
      details: { dir, errno: errnoCode(err) },
    });
  }
  const st = await stat(path, { bigint: true });
  return { path, dev: st.dev, ino: st.ino };
}

/**
 * Before writing `target`: its directory must not be the other slot's directory.
 * Call after the target directory exists (so a symlink to the other slot resolves).
 */
export async function assertDistinctSlotDirs(
  dirs: Record<Slot, string>,
  target: Slot,
): Promise<void> {
  const other = otherSlot(target);
  const [t, o] = await Promise.all([dirIdentity(dirs[target]), dirIdentity(dirs[other])]);
  if (t === undefined || o === undefined) return;
  if (t.dev === o.dev && t.ino === o.ino) {
    throw aliased(`${dirs[target]} and ${dirs[other]} are both ${t.path}`, {
      slot: target,
      dirs,
      resolved: t.path,
    });
  }
}

/**
 * Before writing `target`: its block device must not be the other slot's device.
 * `devices` are the resolved device paths of both slots.
 */
export async function assertDistinctSlotDevices(
  devices: Record<Slot, string>,
  target: Slot,
): Promise<void> {
  const other = otherSlot(target);
  const [t, o] = await Promise.all([deviceNumber(devices[target]), deviceNumber(devices[other])]);
  if (t === o) {
    throw aliased(`${devices[target]} and ${devices[other]} are both device ${t}`, {
      slot: target,
      devices,
      majorMinor: t,
    });
  }
}
