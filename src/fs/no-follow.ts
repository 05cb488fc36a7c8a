/**
 * Paths the agent creates, opens or removes inside a slot are taken as they are, never
 * through a symbolic link: a link planted at the passive slot's staging directory
 * (`slots/B/.incoming -> ../A`) would otherwise send the download, the install's
 * renames and the clean-up into the running slot, or anywhere else (docs/operating.md
 * "Links inside a slot"). Everything here looks at the entry itself (lstat, O_NOFOLLOW,
 * unlink), so a link is seen as a link and removing it removes only the link.
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { lstat, mkdir, readlink, unlink } from 'node:fs/promises';
import { errnoCode } from '../errors.js';

/** open(2) flag: fail with ELOOP when the last component is a symbolic link. */
export const O_NOFOLLOW = constants.O_NOFOLLOW;

/** The entry at `path` itself (a link is not followed), or undefined when there is none. */
export async function entryAt(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The size of the regular file at `path`; undefined for a link, anything else, or nothing. */
export async function regularFileSize(path: string): Promise<number | undefined> {
  const st = await entryAt(path);
  return st?.isFile() ? st.size : undefined;
}

/** A real directory at `path`: not a link to one. */
export async function isRealDir(path: string): Promise<boolean> {
  return (await entryAt(path))?.isDirectory() ?? false;
}

/**
 * Make `path` a real directory of the agent's own. Whatever else is there (a symbolic
 * link, dangling or not, a file, a FIFO) is removed first: only the entry, never what a
 * link points at. Returns what was replaced, for the caller to log. The parent must be
 * a directory the caller has already made sure of.
 */
export async function ensureRealDir(
  path: string,
  mode: number,
): Promise<{ replaced?: { kind: string; target?: string } }> {
  const st = await entryAt(path);
  if (st?.isDirectory()) return {};
  let replaced: { kind: string; target?: string } | undefined;
  if (st !== undefined) {
    replaced = { kind: entryKind(st) };
    if (st.isSymbolicLink()) {
      replaced.target = await readlink(path).catch(() => '?');
    }
    await unlink(path);
  }
  await mkdir(path, { mode });
  // Made by us just now; a link raced in between would fail mkdir with EEXIST.
  if (!(await isRealDir(path))) {
    throw Object.assign(new Error(`${path} is not a directory after mkdir`), { code: 'ENOTDIR' });
  }
  return replaced ? { replaced } : {};
}

function entryKind(st: Stats): string {
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isFile()) return 'file';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice() || st.isCharacterDevice()) return 'device node';
  return 'entry';
}
