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
import { ConfigError, errnoCode, ioError } from '../errors.js';
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

function overlaps(what: string, details: Record<string, unknown>): ConfigError {
  return new ConfigError(
    'SLOT_DIR_OVERLAPS',
    `${what}; a slot directory must be a directory of its own (writing a slot renames, replaces and removes files in it)`,
    { details },
  );
}

/** `inner` is `outer` or lies under it (both absolute, normalised). */
function within(inner: string, outer: string): boolean {
  return inner === outer || outer === '/' || inner.startsWith(`${outer}/`);
}

/**
 * The first conflict between slot directories and the agent's own files (update.conf,
 * the state directory, grubenv, the key), all absolute and normalised: a slot that is
 * or contains one (`slot_b_dir=/`, `/etc/kubesolo`, `/boot/grub`), or a slot inside the
 * other slot. Undefined when there is none.
 */
function slotDirConflict(
  slots: Partial<Record<Slot, string>>,
  agentFiles: readonly string[],
): ConfigError | undefined {
  for (const slot of ['A', 'B'] as const) {
    const dir = slots[slot];
    if (dir === undefined) continue;
    const key = `slot_${slot.toLowerCase()}_dir=${dir}`;
    const file = agentFiles.find((f) => within(f, dir));
    if (file !== undefined) {
      return overlaps(`${key} holds the agent's own ${file}`, { key, dir, file });
    }
    const other = slots[otherSlot(slot)];
    if (other !== undefined && other !== dir && within(other, dir)) {
      return overlaps(`${key} contains the other slot's directory ${other}`, { key, dir, other });
    }
  }
  return undefined;
}

/**
 * The agent's own files (device paths), which no slot directory may hold or contain:
 * update.conf, the state directory (state, lock, floor, fleet files), grubenv, the key.
 * Relative paths (a `--conf` typed by hand) are left to the on-disk check.
 */
export function agentFiles(
  settings: { grubenv: string; pubkey?: string | undefined },
  paths: { config: string; state: string },
): string[] {
  return [paths.config, posix.dirname(paths.state), settings.grubenv, settings.pubkey].filter(
    (p): p is string => p !== undefined && p.startsWith('/'),
  );
}

/**
 * Refuse slot directories (configuration values, device paths) that are or contain the
 * agent's own files (agentFiles), or each other: seen in the keys alone, at load time
 * and in cloud-init (SLOT_DIR_OVERLAPS, exit 2).
 */
export function assertSlotDirsApart(
  keys: { slotADir?: string | undefined; slotBDir?: string | undefined },
  agentFiles: readonly string[],
): void {
  const norm = (p: string | undefined) => (p === undefined ? undefined : posix.resolve('/', p));
  const err = slotDirConflict(
    { A: norm(keys.slotADir), B: norm(keys.slotBDir) },
    agentFiles.map((f) => posix.resolve('/', f)),
  );
  if (err !== undefined) throw err;
}

/** `path` resolved through links, or its parent's when it does not exist yet. */
async function resolvedPath(path: string): Promise<string | undefined> {
  for (const [p, rest] of [
    [path, ''],
    [posix.dirname(path), posix.basename(path)],
  ] as const) {
    try {
      return posix.join(await realpath(p), rest);
    } catch {
      // try the parent
    }
  }
  return undefined;
}

/**
 * The same rule on disk, before a write: the directories as they resolve (links, bind
 * mounts of the same path, `..`), against the agent's files as they resolve.
 */
export async function assertSlotDirsApartOnDisk(
  dirs: Record<Slot, string>,
  agentFiles: readonly string[],
): Promise<void> {
  const [a, b] = await Promise.all([resolvedPath(dirs.A), resolvedPath(dirs.B)]);
  const files = (await Promise.all(agentFiles.map(resolvedPath))).filter(
    (f): f is string => f !== undefined,
  );
  const err = slotDirConflict({ A: a, B: b }, files);
  if (err !== undefined) throw err;
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
    throw ioError('SLOT_IDENTITY_FAILED', `cannot resolve slot directory ${dir}`, err, { dir });
  }
  const st = await stat(path, { bigint: true });
  return { path, dev: st.dev, ino: st.ino };
}

/** The target slot's storage and the other slot's, identified side by side. */
async function sideBySide<I>(
  places: Record<Slot, string>,
  target: Slot,
  identify: (place: string) => Promise<I>,
): Promise<{ other: Slot; t: I; o: I }> {
  const other = otherSlot(target);
  const [t, o] = await Promise.all([identify(places[target]), identify(places[other])]);
  return { other, t, o };
}

/**
 * Before writing `target`: its directory must not be the other slot's directory.
 * Call after the target directory exists (so a symlink to the other slot resolves).
 */
export async function assertDistinctSlotDirs(
  dirs: Record<Slot, string>,
  target: Slot,
): Promise<void> {
  const { other, t, o } = await sideBySide(dirs, target, dirIdentity);
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
  const { other, t, o } = await sideBySide(devices, target, deviceNumber);
  if (t === o) {
    throw aliased(`${devices[target]} and ${devices[other]} are both device ${t}`, {
      slot: target,
      devices,
      majorMinor: t,
    });
  }
}
