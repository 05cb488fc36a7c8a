/**
 * Writing, verifying and reading one slot's files in a directory: the logic both
 * slot stores share. The block store runs it inside the mounted partition, the dir
 * store on a plain directory.
 *
 * New images arrive in the slot's incoming directory (INCOMING_DIR, on the slot's own
 * filesystem): the download streams there, is verified while it arrives, fsynced and
 * renamed to its final name in that directory. Nothing is copied afterwards;
 * installing is renames plus the comparison of one read-back pass.
 *
 * Install order, so that the slot is never selectable half-written:
 *   1. write the new `version` into a temp file and fsync it (the only allocation
 *      left: ENOSPC here leaves the old image untouched).
 *   2. remove the old `version` and fsync the directory: the slot is now "not
 *      bootable" to the agent until step 5.
 *   3. rename each image (kernel, initramfs: src/metadata/images.ts) from the incoming
 *      directory over the old one, fsync it at its new name (FAT keeps its clusters in
 *      its directory entry); fsync both directories.
 *   4. read every image back once from the medium (src/fs/read-back.ts) and compare with the
 *      expected digests; a read-back the download already did of the very same file
 *      (same inode, trailing its writes) is compared instead of reading it again. A
 *      mismatch stops here and leaves the slot without `version`: not bootable.
 *   5. rename `version` into place; fsync the directory. Written last, it marks the
 *      slot complete.
 */
import { existingAncestor } from '../fs/existing-ancestor.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, open, readdir, rename, rm, statfs, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoCode, GateError, ioError, OperationError, VerificationError } from '../errors.js';
import { readControlText } from '../fs/control-file.js';
import { fsyncDir, fsyncPath, removeStaleTempFiles, tempFileName } from '../fs/atomic.js';
import { ensureRealDir, entryAt, isRealDir, regularFileSize } from '../fs/no-follow.js';
import type { Logger } from '../log.js';
import { readBackSha256, type ReadBack } from '../fs/read-back.js';
import { versionProblem } from '../config/version.js';
import { ARTIFACT_NAMES, imageFile, perImage, type ArtifactName } from '../metadata/images.js';
import type { Slot } from '../bootenv/types.js';
import {
  SLOT_FILES,
  VERSION_FILE,
  type SlotDigests,
  type SlotImageSource,
  type SlotStore,
} from './types.js';

/**
 * The directory inside a slot where new images are downloaded (partial files, their
 * resume sidecars, verified files waiting to be installed). Hidden, so that nothing
 * that lists the slot mistakes it for part of the image.
 */
export const INCOMING_DIR = '.incoming';

/** Steps of writing a slot, for fault injection in tests (the hook runs after each). */
export type SlotWriteStep =
  | `temp-${ArtifactName}`
  | 'temp-version'
  | 'old-version-removed'
  | `${ArtifactName}-renamed`
  | 'verified'
  | 'version-renamed';

export interface SlotWriteOptions {
  /** Runs after each step with the slot directory (a block slot's mount point). */
  onStep?: (step: SlotWriteStep, dir: string) => void;
  log: Logger;
}

const COPY_CHUNK = 1 << 20;
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** A version we can write as the one-line `version` file: the one version rule. */
export function checkVersion(version: string): string {
  const problem = versionProblem(version);
  if (problem !== undefined) {
    throw new OperationError(
      'SLOT_INVALID_VERSION',
      `not a usable version string: ${JSON.stringify(version.slice(0, 64))} (${problem})`,
    );
  }
  return version;
}

function writeError(err: unknown, dir: string, what: string): Error {
  if (err instanceof OperationError || err instanceof VerificationError) return err;
  if (err instanceof GateError) return err;
  const errno = errnoCode(err);
  if (errno !== undefined && NO_SPACE.has(errno)) {
    // A refusal for lack of space, like the agent's free-space gate (docs/design.md §3.7: exit 3).
    return new GateError('SLOT_NO_SPACE', `not enough space in ${dir} to write ${what}`, {
      cause: err,
      details: { dir, errno },
    });
  }
  return new OperationError('SLOT_WRITE_FAILED', `cannot write ${what} in ${dir}`, {
    cause: err,
    details: { dir, errno },
  });
}

/**
 * The slot's incoming directory, created if needed: a real directory inside the slot.
 * Anything else found at its name (a symbolic link to the running slot or elsewhere, a
 * file) is removed, the entry only, and logged: following it would download, rename
 * and clean up in whatever it points at (docs/operating.md "Links inside a slot").
 */
async function ensureIncomingDir(dir: string, log: Logger): Promise<string> {
  const incoming = join(dir, INCOMING_DIR);
  try {
    const { replaced } = await ensureRealDir(incoming, 0o700);
    if (replaced !== undefined) {
      log?.warn(`replaced a ${replaced.kind} at the slot's incoming directory`, {
        path: incoming,
        ...(replaced.target !== undefined ? { target: replaced.target } : {}),
      });
    }
  } catch (err) {
    throw writeError(err, dir, 'the incoming directory');
  }
  return incoming;
}

/** Copy `src` to a new file `dest` (exclusive create), hashing the bytes copied; fsync it. */
async function copyHashed(src: string, dest: string): Promise<string> {
  const hash = createHash('sha256');
  const out = await open(dest, 'wx', 0o644);
  try {
    for await (const chunk of createReadStream(src, { highWaterMark: COPY_CHUNK })) {
      const buf = chunk as Buffer;
      hash.update(buf);
      let off = 0;
      while (off < buf.length) off += (await out.write(buf, off)).bytesWritten;
    }
    await out.sync();
  } finally {
    await out.close();
  }
  return hash.digest('hex');
}

/** SHA-256 of a file, read afresh from a new file descriptor. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: COPY_CHUNK })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/**
 * How an image is put into a slot's directory, its files checked against `expected`:
 * written from elsewhere (writeSlotDir) or installed from the incoming directory.
 */
type SlotDirWriter = (
  dir: string,
  image: SlotImageSource,
  expected: SlotDigests,
  options: SlotWriteOptions,
) => Promise<void>;

/**
 * Write an image whose files live elsewhere (another filesystem: tests, tools) into
 * the slot: copy each into the incoming directory, checking its digest, then install.
 * The agent does not use this: its downloads already land in the incoming directory.
 */
const writeSlotDir: SlotDirWriter = async (dir, image, expected, options) => {
  const step = options.onStep ?? (() => undefined);
  checkVersion(image.version);
  const incoming = await ensureIncomingDir(dir, options.log);
  const copies = perImage((name) => join(incoming, tempFileName(imageFile(name))));
  try {
    await removeStaleTempFiles(incoming, ARTIFACT_NAMES.map(imageFile));
    for (const name of ARTIFACT_NAMES) {
      const src = image.files[name];
      const want = expected[name];
      const got = await copyHashed(src, copies[name]);
      if (got !== want.toLowerCase()) {
        throw new VerificationError(
          'SLOT_VERIFY_FAILED',
          `staged ${imageFile(name)} does not match its expected SHA-256; nothing was installed`,
          { details: { file: src, expected: want, actual: got, phase: 'source' } },
        );
      }
      step(`temp-${name}`, dir);
    }
    await fsyncDir(incoming);
    await installSlotDir(dir, { files: copies, version: image.version }, expected, options);
  } catch (err) {
    await Promise.all(Object.values(copies).map((t) => unlink(t).catch(() => undefined)));
    throw writeError(err, dir, `version ${image.version}`);
  }
};

/**
 * Put `source` in place as `dest` while the source stays where it is: a hard link to a
 * temporary name, renamed over `dest` (atomic, no extra space). The verified download
 * in the incoming directory thus survives a kill between this step and the `version`
 * rename, and the next run installs it again instead of fetching it again. A file
 * system without hard links gets a plain rename.
 */
async function replaceKeepingSource(source: string, dest: string): Promise<void> {
  const temp = join(dirname(dest), tempFileName(basename(dest)));
  try {
    await link(source, temp);
  } catch (err) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK'].includes(errnoCode(err) ?? '')) {
      throw err;
    }
    await rename(source, dest);
    return;
  }
  await rename(temp, dest);
}

/**
 * fsync a file just renamed, at its new name. On ext4 the directory's fsync makes the
 * rename durable and this costs nothing; on FAT a file's first cluster and size live in
 * its own directory entry, which Linux's vfat writes with the file's inode, not with
 * the directory: without this, a slot's `vmlinuz` entry could still point at the old
 * clusters (which the allocation table frees) when `version` is already on the medium.
 */
async function fsyncRenamed(path: string): Promise<void> {
  await fsyncPath(path);
}

/**
 * Install verified files that are already on the slot's filesystem (in its incoming
 * directory) as the slot's image, in the order of the header comment.
 */
export const installSlotDir: SlotDirWriter = async (dir, image, expected, options) => {
  const step = options.onStep ?? (() => undefined);
  const version = checkVersion(image.version);
  const tempVersion = join(dir, tempFileName(VERSION_FILE));
  const versionPath = join(dir, VERSION_FILE);
  const cleanup = () => unlink(tempVersion).catch(() => undefined);

  // 1. The only allocation left: the version file. Both images must be there first,
  // or removing the old version below would leave the slot unbootable for nothing.
  try {
    await removeStaleTempFiles(dir, SLOT_FILES);
    for (const path of Object.values(image.files)) {
      // The verified download itself, never a link put in its place.
      if ((await regularFileSize(path)) === undefined) {
        throw new OperationError('SLOT_WRITE_FAILED', `${path} is not a regular file`, {
          details: { file: path },
        });
      }
    }
    const vf = await open(tempVersion, 'wx', 0o644);
    try {
      await vf.writeFile(`${version}\n`);
      await vf.sync();
    } finally {
      await vf.close();
    }
    step('temp-version', dir);
  } catch (err) {
    await cleanup();
    throw writeError(err, dir, `version ${version}`);
  }

  // 2.–3. Swap in: from here on the old image is gone, and the slot is incomplete
  // (no `version`) until step 5.
  try {
    await unlink(versionPath).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    await fsyncDir(dir);
    step('old-version-removed', dir);
    for (const name of ARTIFACT_NAMES) {
      await replaceKeepingSource(image.files[name], join(dir, imageFile(name)));
      await fsyncRenamed(join(dir, imageFile(name)));
      step(`${name}-renamed`, dir);
    }
    await fsyncDir(dir);
    for (const source of new Set(Object.values(image.files).map((f) => dirname(f)))) {
      await fsyncDir(source);
    }
  } catch (err) {
    await cleanup();
    throw writeError(err, dir, `version ${version}`);
  }

  // 4. Read back what is now on the medium, before the slot is marked complete (or
  // take the read-back the download did of these very files, right after their sync).
  try {
    const direct = await verifySlotDir(dir, expected, image.readBack);
    options.log?.debug('slot read back', { dir, direct });
    step('verified', dir);
  } catch (err) {
    await cleanup();
    // The verified downloads share the bad blocks' inodes: fetch afresh next time.
    await emptyIncomingDir(dir).catch(() => undefined);
    throw err;
  }

  // 5. Mark the slot complete.
  try {
    await rename(tempVersion, versionPath);
    await fsyncRenamed(versionPath);
    await fsyncDir(dir);
    step('version-renamed', dir);
  } catch (err) {
    await cleanup();
    throw writeError(err, dir, `version ${version}`);
  }
  // What is left in the incoming directory (download records, leftovers of other
  // versions) is obsolete now that the slot holds the image.
  await emptyIncomingDir(dir);
  const written = await readSlotDirVersion(dir);
  if (written !== version) {
    throw new VerificationError(
      'SLOT_VERIFY_FAILED',
      `version file reads back as ${JSON.stringify(written)}`,
      { details: { dir, expected: version, actual: written, phase: 'readback' } },
    );
  }
};

/**
 * Read the slot's kernel and initramfs back once (from the medium where O_DIRECT
 * works) and compare with `expected`; VerificationError SLOT_VERIFY_FAILED on any
 * difference. Returns whether both reads bypassed the page cache. `done` holds
 * read-backs made earlier in this process (while downloading); one counts only for
 * the file it read: the same inode, still the same size.
 */
async function verifySlotDir(
  dir: string,
  expected: SlotDigests,
  done: SlotImageSource['readBack'] = {},
): Promise<boolean> {
  let direct = true;
  for (const name of ARTIFACT_NAMES) {
    const path = join(dir, imageFile(name));
    const want = expected[name].toLowerCase();
    let got: string;
    try {
      const read = (await sameFile(path, done[name])) ?? (await readBackSha256(path));
      got = read.sha256;
      direct &&= read.direct;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        throw new VerificationError('SLOT_VERIFY_FAILED', `${path} is missing`, {
          cause: err,
          details: { file: path, phase: 'readback' },
        });
      }
      if (errnoCode(err) === 'ELOOP') {
        // Never followed: the slot does not hold the image, a link does.
        throw new VerificationError('SLOT_VERIFY_FAILED', `${path} is a symbolic link`, {
          cause: err,
          details: { file: path, phase: 'readback' },
        });
      }
      throw ioError('SLOT_READ_FAILED', `cannot read ${path}`, err, { file: path });
    }
    if (got !== want) {
      throw new VerificationError(
        'SLOT_VERIFY_FAILED',
        `${path} does not match its expected SHA-256`,
        {
          details: { file: path, expected: want, actual: got, phase: 'readback' },
        },
      );
    }
  }
  return direct;
}

/** `earlier` when it is a read-back of the file now at `path`, else undefined. */
async function sameFile(
  path: string,
  earlier: ReadBack | undefined,
): Promise<ReadBack | undefined> {
  if (earlier === undefined) return undefined;
  const now = await entryAt(path);
  return now?.isFile() &&
    now.dev === earlier.dev &&
    now.ino === earlier.ino &&
    now.size === earlier.size
    ? earlier
    : undefined;
}

/** The trimmed text of the `version` file ('' when there is none). */
async function readVersionText(dir: string): Promise<string> {
  const path = join(dir, VERSION_FILE);
  try {
    return (await readControlText(path, { maxBytes: 4096, noFollow: true })).trim();
  } catch (err) {
    // A link is no `version` the agent wrote (it writes a file, renamed into place).
    if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errnoCode(err) ?? '')) return '';
    throw ioError('SLOT_READ_FAILED', `cannot read ${path}`, err, { file: path });
  }
}

/**
 * The trimmed `version` file, or undefined when there is none. A file that holds no
 * version (`latest`) is SLOT_INVALID_VERSION naming the file (`where`: how to name it
 * when `dir` is a temporary mount) and what a version looks like: every comparison
 * with it would fail later with nothing to say which file is wrong.
 */
async function readSlotDirVersion(dir: string, where?: string): Promise<string | undefined> {
  const v = await readVersionText(dir);
  if (v === '') return undefined;
  const problem = versionProblem(v);
  if (problem !== undefined) {
    const file = where ?? join(dir, VERSION_FILE);
    throw new OperationError(
      'SLOT_INVALID_VERSION',
      `${file} holds ${JSON.stringify(v.slice(0, 64))}, not a version (${problem}, e.g. v1.2.3; docs/formats.md "Versions"): ` +
        "write the slot's release version into it",
      { details: { file, version: v.slice(0, 64) } },
    );
  }
  return v;
}

/** Every image (non-empty regular files) and a version: something GRUB could boot. */
export async function slotDirBootable(dir: string): Promise<boolean> {
  // Bootable is GRUB's view: any version line will do, a valid one or not.
  if ((await readVersionText(dir)) === '') return false;
  for (const name of ARTIFACT_NAMES) {
    const size = await regularFileSize(join(dir, imageFile(name))).catch(() => undefined);
    if (size === undefined || size === 0) return false;
  }
  return true;
}

/**
 * Bytes available for a new image: what an unprivileged writer may still use (statfs
 * f_bavail × f_bsize) plus what the incoming directory holds, since a new download
 * reuses or replaces those files (a resumable half of the same image must not make
 * the free-space gate refuse its other half).
 */
export async function dirFreeBytes(dir: string): Promise<number> {
  try {
    // A slot directory not created yet lives on its parent's file system.
    const s = await statfs(await existingAncestor(dir));
    return s.bavail * s.bsize + (await incomingBytes(dir));
  } catch (err) {
    throw ioError('SLOT_READ_FAILED', `cannot statfs ${dir}`, err, { dir });
  }
}

async function emptyIncomingDir(dir: string): Promise<void> {
  const incoming = join(dir, INCOMING_DIR);
  // Only a real directory is emptied: never what a link there points at.
  if (!(await isRealDir(incoming))) return;
  const names = await readdir(incoming).catch(() => [] as string[]);
  await Promise.all(names.map((n) => rm(join(incoming, n), { recursive: true, force: true })));
}

/** Bytes in the slot's incoming directory (0 when there is none). */
async function incomingBytes(dir: string): Promise<number> {
  const incoming = join(dir, INCOMING_DIR);
  if (!(await isRealDir(incoming).catch(() => false))) return 0;
  const names = await readdir(incoming).catch(() => [] as string[]);
  let total = 0;
  for (const name of names) {
    total += (await regularFileSize(join(incoming, name)).catch(() => undefined)) ?? 0;
  }
  return total;
}

/** The modes a slot store opens a slot's directory in (a block slot: its mount options). */
export type SlotDirMode = 'ro' | 'rw' | 'ro-noload';

/** How a slot store reaches a slot's directory: plain (dir-store.ts) or mounted (block-store.ts). */
export interface SlotDirAccess {
  /**
   * Run `fn` on `slot`'s directory: `ro` to read it, `ro-noload` for `openReader` (a
   * block slot's journal is not replayed), `rw` to write into it, once the slot is proven
   * not to be the other slot's storage (and, for a plain directory, created).
   */
  withDir: <T>(slot: Slot, mode: SlotDirMode, fn: (dir: string) => Promise<T>) => Promise<T>;
  flushForBootloader: (slot: Slot) => Promise<void>;
  /** How an error names a slot's version file (default: its path). */
  versionFileName?: (slot: Slot) => string;
}

/**
 * The `SlotStore` every backend is: the slot-file operations above, run on the directory
 * `access` hands out for each slot. `onWriteStep` is the fault-injection hook (tests).
 */
export function slotStoreOverDirs(
  access: SlotDirAccess,
  options: { log: Logger; onWriteStep?: SlotWriteOptions['onStep'] },
): SlotStore {
  const log = options.log;
  const writeOptions = { log, ...(options.onWriteStep ? { onStep: options.onWriteStep } : {}) };
  const { withDir } = access;
  return {
    readVersion: (slot) =>
      withDir(slot, 'ro', (dir) => readSlotDirVersion(dir, access.versionFileName?.(slot))),
    // Never creates a slot directory: `check` asks this and must change nothing.
    freeBytes: (slot) => withDir(slot, 'ro', dirFreeBytes),
    openWriter: (slot, fn) =>
      withDir(slot, 'rw', async (dir) =>
        fn({
          dir,
          incomingDir: await ensureIncomingDir(dir, log),
          install: (image, expected) => installSlotDir(dir, image, expected, writeOptions),
        }),
      ),
    openReader: (slot, fn) => withDir(slot, 'ro-noload', fn),
    write: (slot, image, expected) =>
      withDir(slot, 'rw', (dir) => writeSlotDir(dir, image, expected, writeOptions)),
    verify: (slot, expected) =>
      withDir(slot, 'ro', async (dir) => {
        await verifySlotDir(dir, expected);
      }),
    hasBootableImage: (slot) => withDir(slot, 'ro', slotDirBootable),
    flushForBootloader: (slot) => access.flushForBootloader(slot),
  };
}
