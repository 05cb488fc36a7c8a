/**
 * `readAt`: the bytes of a file or device at a position, read until they are all there
 * (one `read` may return fewer than asked) or the end is reached.
 */
import type { FileHandle } from 'node:fs/promises';

/** Up to `length` bytes at `position`; fewer only where the file or device ends first. */
export async function readAt(
  handle: FileHandle,
  position: number,
  length: number,
): Promise<Buffer> {
  // Never exposes uninitialised memory: what is returned is only what was read.
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
