/**
 * Read-back of a file just written to a slot: one pass, SHA-256, read from the medium
 * rather than the page cache wherever the filesystem allows it.
 *
 * Why O_DIRECT: after fsync the page cache still holds the bytes we wrote, so an
 * ordinary read would hash our own memory and could never notice a bit the medium
 * failed to keep. With O_DIRECT the kernel writes back any dirty pages of the range
 * and then reads the device, so the digest is of what the next boot will load
 * (docs/transport.md "Read-back"). Filesystems without O_DIRECT (EINVAL on open)
 * are read through the page cache, and the result says so (`direct: false`).
 *
 * O_DIRECT needs the buffer, the file offset and the length aligned to the logical
 * block size and the device's DMA alignment. File offsets and lengths are multiples of
 * 4 MiB here; JavaScript cannot ask where a buffer lives (a large Buffer starts 16
 * bytes past a page boundary with glibc), so the first read probes 16-byte steps
 * inside one page of an over-allocated buffer until the kernel accepts one (EINVAL
 * means misaligned).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { errnoCode } from '../errors.js';

/** Bytes per read: large enough to keep the device busy, two of them in flight. */
const CHUNK = 4 * 1024 * 1024;
const PAGE = 4096;
/** malloc's alignment: the smallest step at which the buffer's alignment changes. */
const STEP = 16;

export interface ReadBack {
  sha256: string;
  size: number;
  /** true: read with O_DIRECT (the medium); false: through the page cache. */
  direct: boolean;
}

/** SHA-256 of `path`, read once, from the medium when O_DIRECT is available. */
export async function readBackSha256(path: string): Promise<ReadBack> {
  let handle: FileHandle;
  let direct = true;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (err) {
    if (errnoCode(err) !== 'EINVAL') throw err;
    direct = false;
    handle = await open(path, constants.O_RDONLY);
  }
  try {
    const raw = Buffer.allocUnsafeSlow(2 * CHUNK + PAGE);
    const base = direct ? await alignedOffset(handle, raw) : 0;
    if (base === undefined) direct = false;
    const start = base ?? 0;
    const buffers = [
      raw.subarray(start, start + CHUNK),
      raw.subarray(start + CHUNK, start + 2 * CHUNK),
    ] as const;
    const hash = createHash('sha256');
    let position = 0;
    let turn = 0;
    // Double buffering: the next read runs on the thread pool while this chunk hashes.
    let pending = handle.read(buffers[0], 0, CHUNK, 0);
    for (;;) {
      const { bytesRead } = await pending;
      const current = buffers[turn]!;
      position += bytesRead;
      const more = bytesRead === CHUNK;
      turn ^= 1;
      if (more) pending = handle.read(buffers[turn]!, 0, CHUNK, position);
      hash.update(current.subarray(0, bytesRead));
      if (!more) break;
    }
    return { sha256: hash.digest('hex'), size: position, direct };
  } finally {
    await handle.close();
  }
}

/**
 * The offset into `raw` at which O_DIRECT reads succeed, or undefined when none does
 * (the filesystem accepted the flag but not our reads: read through the cache then).
 * The probe reads one page, a length every logical block size up to 4 KiB divides.
 */
async function alignedOffset(handle: FileHandle, raw: Buffer): Promise<number | undefined> {
  for (let offset = 0; offset < PAGE; offset += STEP) {
    try {
      await handle.read(raw, offset, PAGE, 0);
      return offset;
    } catch (err) {
      if (errnoCode(err) !== 'EINVAL') throw err;
    }
  }
  return undefined;
}
