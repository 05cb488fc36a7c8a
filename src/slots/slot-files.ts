/**
 * Writing, verifying and reading one slot's files in a directory: the logic both
 * slot stores share (DESIGN §2). The block store runs it inside the mounted
 * partition, the dir store on a plain directory.
 *
 * Write order, so that the slot is never selectable half-written:
 *   1. copy kernel, initramfs and `version` into temp files, hashing what is copied;
 *      fsync each. (Everything that needs space happens here: ENOSPC leaves the old
 *      files untouched and the temp files removed.) A source that does not hash to
 *      the expected digest stops here too.
 *   2. remove the old `version` and fsync the directory: the slot is now "not
 *      bootable" to the agent until step 4.
 *   3. rename the kernel and the initramfs over the old ones; fsync the directory.
 *   4. re-open and re-hash both files and compare with the expected digests. A
 *      mismatch stops here and leaves the slot without `version`: not bootable.
 *   5. rename `version` into place (its bytes were written in step 1, so this needs
 *      no space); fsync the directory. Written last, it marks the slot complete.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GateError, OperationError, VerificationError, errnoCode } from '../errors.js';
import { readControlText } from '../fs/control-file.js';
import { fsyncDir, removeStaleTempFiles, tempFileName } from '../fs/atomic.js';
import { SLOT_FILES, type SlotDigests, type SlotImageSource } from './types.js';

/** Steps of writeSlotDir, for fault injection in tests (the hook runs after each). */
export type SlotWriteStep =
  | 'temp-kernel'
  | 'temp-initramfs'
  | 'temp-version'
  | 'old-version-removed'
  | 'kernel-renamed'
  | 'initramfs-renamed'
  | 'verified'
  | 'version-renamed';

export interface SlotWriteOptions {
  onStep?: (step: SlotWriteStep) => void;
}

const COPY_CHUNK = 1 << 20;
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** A version string we can write as the one-line `version` file (DESIGN §3.1). */
export function checkVersion(version: string): string {
  const v = version.trim();
  if (v === '' || /[\r\n\0]/.test(v) || v.length > 128) {
    throw new OperationError(
      'SLOT_INVALID_VERSION',
      `not a usable version string: ${JSON.stringify(version)}`,
    );
  }
  return v;
}

function writeError(err: unknown, dir: string, what: string): Error {
  if (err instanceof OperationError || err instanceof VerificationError) return err;
  const errno = errnoCode(err);
  if (errno !== undefined && NO_SPACE.has(errno)) {
    // A refusal for lack of space, like the agent's free-space gate (DESIGN §3.7: exit 3).
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

export async function writeSlotDir(
  dir: string,
  image: SlotImageSource,
  expected: SlotDigests,
  options: SlotWriteOptions = {},
): Promise<void> {
  const step = options.onStep ?? (() => undefined);
  const version = checkVersion(image.version);
  const temps = {
    kernel: join(dir, tempFileName(SLOT_FILES.kernel)),
    initramfs: join(dir, tempFileName(SLOT_FILES.initramfs)),
    version: join(dir, tempFileName(SLOT_FILES.version)),
  };
  const finals = {
    kernel: join(dir, SLOT_FILES.kernel),
    initramfs: join(dir, SLOT_FILES.initramfs),
    version: join(dir, SLOT_FILES.version),
  };
  const cleanup = () =>
    Promise.all(Object.values(temps).map((t) => unlink(t).catch(() => undefined)));

  // 1. Everything that allocates space, into temp files.
  try {
    await removeStaleTempFiles(dir, Object.values(SLOT_FILES));
    for (const part of ['kernel', 'initramfs'] as const) {
      const src = part === 'kernel' ? image.kernelPath : image.initramfsPath;
      const want = part === 'kernel' ? expected.kernelSha256 : expected.initramfsSha256;
      const got = await copyHashed(src, temps[part]);
      if (got !== want.toLowerCase()) {
        throw new VerificationError(
          'SLOT_VERIFY_FAILED',
          `staged ${SLOT_FILES[part]} does not match its expected SHA-256; nothing was installed`,
          { details: { file: src, expected: want, actual: got, phase: 'source' } },
        );
      }
      step(part === 'kernel' ? 'temp-kernel' : 'temp-initramfs');
    }
    const vf = await open(temps.version, 'wx', 0o644);
    try {
      await vf.writeFile(`${version}\n`);
      await vf.sync();
    } finally {
      await vf.close();
    }
    step('temp-version');
  } catch (err) {
    await cleanup();
    throw writeError(err, dir, `version ${version}`);
  }

  // 2.–3. Swap in: from here on the old image is gone, and the slot is incomplete
  // (no `version`) until step 5.
  try {
    await unlink(finals.version).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    await fsyncDir(dir);
    step('old-version-removed');
    await rename(temps.kernel, finals.kernel);
    step('kernel-renamed');
    await rename(temps.initramfs, finals.initramfs);
    step('initramfs-renamed');
    await fsyncDir(dir);
  } catch (err) {
    await cleanup();
    throw writeError(err, dir, `version ${version}`);
  }

  // 4. Read back what is now on disk, before the slot is marked complete.
  try {
    await verifySlotDir(dir, expected);
    step('verified');
  } catch (err) {
    await cleanup();
    throw err;
  }

  // 5. Mark the slot complete.
  try {
    await rename(temps.version, finals.version);
    await fsyncDir(dir);
    step('version-renamed');
  } catch (err) {
    await cleanup();
    throw writeError(err, dir, `version ${version}`);
  }
  const written = await readSlotDirVersion(dir);
  if (written !== version) {
    throw new VerificationError(
      'SLOT_VERIFY_FAILED',
      `version file reads back as ${JSON.stringify(written)}`,
      { details: { dir, expected: version, actual: written, phase: 'readback' } },
    );
  }
}

/** Re-hash the slot's kernel and initramfs; VerificationError SLOT_VERIFY_FAILED on any difference. */
export async function verifySlotDir(dir: string, expected: SlotDigests): Promise<void> {
  for (const part of ['kernel', 'initramfs'] as const) {
    const path = join(dir, SLOT_FILES[part]);
    const want = (
      part === 'kernel' ? expected.kernelSha256 : expected.initramfsSha256
    ).toLowerCase();
    let got: string;
    try {
      got = await sha256File(path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        throw new VerificationError('SLOT_VERIFY_FAILED', `${path} is missing`, {
          cause: err,
          details: { file: path, phase: 'readback' },
        });
      }
      throw new OperationError('SLOT_READ_FAILED', `cannot read ${path}`, {
        cause: err,
        details: { file: path, errno: errnoCode(err) },
      });
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
}

/** The trimmed `version` file, or undefined when there is none. */
export async function readSlotDirVersion(dir: string): Promise<string | undefined> {
  const path = join(dir, SLOT_FILES.version);
  try {
    const v = (await readControlText(path, { maxBytes: 4096 })).trim();
    return v === '' ? undefined : v;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw new OperationError('SLOT_READ_FAILED', `cannot read ${path}`, {
      cause: err,
      details: { file: path, errno: errnoCode(err) },
    });
  }
}

/** A kernel, an initramfs (both non-empty files) and a version: something GRUB could boot. */
export async function slotDirBootable(dir: string): Promise<boolean> {
  if ((await readSlotDirVersion(dir)) === undefined) return false;
  for (const name of [SLOT_FILES.kernel, SLOT_FILES.initramfs]) {
    try {
      const s = await stat(join(dir, name));
      if (!s.isFile() || s.size === 0) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Bytes an unprivileged writer may still use (statfs f_bavail × f_bsize). */
export async function dirFreeBytes(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch (err) {
    throw new OperationError('SLOT_READ_FAILED', `cannot statfs ${dir}`, {
      cause: err,
      details: { dir, errno: errnoCode(err) },
    });
  }
}
