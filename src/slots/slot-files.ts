/**
 * Writing and checking one slot's files in a directory (DESIGN §1, §2). Shared by the
 * `dir` store and the `block` store (which mounts the partition and then uses this).
 *
 * Write order, so a power cut at any point never leaves a slot that looks complete
 * but is not, and a full partition never touches the old image:
 *  1. copy kernel and initramfs to temp files in the slot, fsync each
 *     (ENOSPC here: temp files removed, old image untouched);
 *  2. remove `version` and fsync the directory: from now on the slot is incomplete;
 *  3. rename the temp files over vmlinuz / kubesolo-os.gz, fsync the directory;
 *  4. read both back from disk and re-hash;
 *  5. write `version` atomically: only now is the slot bootable again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { errnoCode, GateError, OperationError, VerificationError } from '../errors.js';
import { atomicWriteFile, fsyncDir } from '../fs/atomic.js';
import { SLOT_FILES, type SlotDigests, type SlotImageSource } from './types.js';

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/**
 * write(2) may write less than asked (a filling disk does exactly that before it
 * reports ENOSPC): keep writing until the whole chunk is down or an error comes.
 */
async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** Copy `from` to a new temp file in `dir`, fsynced; returns its path. */
async function copyToTemp(from: string, dir: string, name: string): Promise<string> {
  const tmp = join(dir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await open(tmp, 'wx', 0o644);
  try {
    await pipeline(
      createReadStream(from, { highWaterMark: 1 << 20 }),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          writeAll(handle, chunk).then(() => cb(), cb);
        },
      }),
    );
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  return tmp;
}

function writeError(dir: string, err: unknown): Error {
  if (errnoCode(err) === 'ENOSPC') {
    return new GateError('SLOT_NO_SPACE', `not enough space in ${dir} for the new image`, {
      cause: err,
      details: { dir },
    });
  }
  return new OperationError('SLOT_WRITE_FAILED', `cannot write the image into ${dir}`, {
    cause: err,
    details: { dir, errno: errnoCode(err) },
  });
}

export async function writeSlotFiles(
  dir: string,
  image: SlotImageSource,
  expected: SlotDigests,
): Promise<void> {
  const temps: string[] = [];
  try {
    temps.push(await copyToTemp(image.kernelPath, dir, SLOT_FILES.kernel));
    temps.push(await copyToTemp(image.initramfsPath, dir, SLOT_FILES.initramfs));
  } catch (err) {
    await Promise.all(temps.map((t) => unlink(t).catch(() => undefined)));
    throw writeError(dir, err);
  }
  try {
    await unlink(join(dir, SLOT_FILES.version)).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    await fsyncDir(dir);
    await rename(temps[0]!, join(dir, SLOT_FILES.kernel));
    await rename(temps[1]!, join(dir, SLOT_FILES.initramfs));
    temps.length = 0;
    await fsyncDir(dir);
  } catch (err) {
    await Promise.all(temps.map((t) => unlink(t).catch(() => undefined)));
    throw writeError(dir, err);
  }
  await verifySlotFiles(dir, expected);
  try {
    await atomicWriteFile(join(dir, SLOT_FILES.version), `${image.version}\n`);
  } catch (err) {
    throw writeError(dir, err);
  }
}

/** Re-read both images from disk and compare their SHA-256 with `expected`. */
export async function verifySlotFiles(dir: string, expected: SlotDigests): Promise<void> {
  const checks: [string, string][] = [
    [SLOT_FILES.kernel, expected.kernelSha256],
    [SLOT_FILES.initramfs, expected.initramfsSha256],
  ];
  for (const [name, want] of checks) {
    let got: string;
    try {
      got = await sha256Of(join(dir, name));
    } catch (err) {
      throw new VerificationError('SLOT_VERIFY_FAILED', `cannot read back ${name} from ${dir}`, {
        cause: err,
        details: { dir, file: name },
      });
    }
    if (got !== want.toLowerCase()) {
      throw new VerificationError(
        'SLOT_VERIFY_FAILED',
        `${name} in ${dir} does not match its expected SHA-256`,
        { details: { dir, file: name, expected: want, actual: got } },
      );
    }
  }
}

export async function readSlotVersion(dir: string): Promise<string | undefined> {
  try {
    const text = (await readFile(join(dir, SLOT_FILES.version), 'utf8')).trim();
    return text || undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw new OperationError('SLOT_READ_FAILED', `cannot read the version of ${dir}`, {
      cause: err,
    });
  }
}

export async function slotHasBootableImage(dir: string): Promise<boolean> {
  // The version file is written last: without it the slot is incomplete.
  if (!(await readSlotVersion(dir))) return false;
  for (const name of [SLOT_FILES.kernel, SLOT_FILES.initramfs]) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (!st?.isFile() || st.size === 0) return false;
  }
  return true;
}

export async function freeBytesIn(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
