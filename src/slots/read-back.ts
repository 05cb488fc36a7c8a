/**
 * Read-back of a file written to a slot: one pass, SHA-256, read from the medium
 * rather than the page cache wherever the filesystem allows it, on a worker thread.
 *
 * Why O_DIRECT: after fsync the page cache still holds the bytes we wrote, so an
 * ordinary read would hash our own memory and could never notice a bit the medium
 * failed to keep. With O_DIRECT the kernel writes back any dirty pages of the range
 * and then reads the device, so the digest is of what the next boot will load
 * (docs/transport.md "Read-back"). Filesystems without O_DIRECT (EINVAL on open)
 * are read through the page cache, and the result says so (`direct: false`).
 *
 * Why trailing, on a worker: a download writes the file front to back and fdatasyncs
 * it every 32 MiB (batch-writer.ts). A TrailingReadBack follows behind it, told each
 * time a prefix is durable (`advance`), so it reads and hashes those ranges on the
 * second core while the download goes on; when the download ends only the last range
 * is left (`finish`). A file that is already complete is the same reader told to
 * finish at once (readBackSha256).
 *
 * O_DIRECT needs the buffer, the file offset and the length aligned to the logical
 * block size and the device's DMA alignment. File offsets and lengths are multiples of
 * 1 MiB here; JavaScript cannot ask where a buffer lives (a large Buffer starts 16
 * bytes past a page boundary with glibc), so the first read probes 16-byte steps
 * inside one page of an over-allocated buffer until the kernel accepts one (EINVAL
 * means misaligned). The probe runs at the first read, when the file's first page
 * holds data: on an empty file a misaligned read is not refused, it just returns 0.
 *
 * The worker's code is a CommonJS string (`eval: true`), so the single-file bundle
 * needs no second file.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { path, chunk: CHUNK, page: PAGE, step: STEP } = workerData;
const hash = createHash('sha256');
const read = (fd, buf, off, len, pos) =>
  new Promise((res, rej) => fs.read(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res(n))));
let fd;
let direct = true;
let buffers;
let durable = 0;
let position = 0;
let finishing = false;
let pumping = false;
let failed = false;
let done = false;
const raw = Buffer.allocUnsafeSlow(2 * CHUNK + PAGE);
function fail(e) {
  failed = true;
  parentPort.postMessage({ error: { message: String(e && e.message), code: e && e.code } });
}
try {
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  } catch (e) {
    if (e.code !== 'EINVAL') throw e;
    direct = false;
    fd = fs.openSync(path, fs.constants.O_RDONLY);
  }
} catch (e) {
  fail(e);
}
async function align() {
  let base;
  if (direct) {
    for (let off = 0; off < PAGE && base === undefined; off += STEP) {
      try {
        await read(fd, raw, off, PAGE, 0);
        base = off;
      } catch (e) {
        if (e.code !== 'EINVAL') throw e;
      }
    }
    if (base === undefined) direct = false;
  }
  const b = base ?? 0;
  buffers = [raw.subarray(b, b + CHUNK), raw.subarray(b + CHUNK, b + 2 * CHUNK)];
}
const canRead = (at) => finishing || at + CHUNK <= durable;
// Reads whole chunks of the durable prefix, double-buffered (the next read runs on
// the thread pool while this chunk hashes); on finish, reads on to the end of file.
async function pump() {
  if (pumping || failed || done || fd === undefined) return;
  pumping = true;
  try {
    if (!canRead(position)) return;
    if (buffers === undefined) await align();
    let turn = 0;
    let pending = read(fd, buffers[turn], 0, CHUNK, position);
    for (;;) {
      const n = await pending;
      const current = buffers[turn];
      position += n;
      const more = n === CHUNK;
      if (!more && !finishing) throw new Error('file ended before its durable size');
      turn ^= 1;
      pending = more && canRead(position) ? read(fd, buffers[turn], 0, CHUNK, position) : undefined;
      hash.update(current.subarray(0, n));
      if (!more) {
        const st = fs.fstatSync(fd);
        done = true;
        parentPort.postMessage({
          done: { sha256: hash.digest('hex'), size: position, direct, dev: st.dev, ino: st.ino },
        });
        return;
      }
      if (pending === undefined) return;
    }
  } catch (e) {
    fail(e);
  } finally {
    pumping = false;
    // A finish or advance that arrived during the last read.
    if (!failed && !done && canRead(position)) void pump();
  }
}
parentPort.on('message', (m) => {
  if (m.durable !== undefined) durable = Math.max(durable, m.durable);
  if (m.finish) finishing = true;
  void pump();
});
`;

/** Bytes per read: large enough to keep the device busy, two of them in flight. */
const CHUNK = 1024 * 1024;
const PAGE = 4096;
/** malloc's alignment: the smallest step at which the buffer's alignment changes. */
const STEP = 16;

export interface ReadBack {
  sha256: string;
  size: number;
  /** true: read with O_DIRECT (the medium); false: through the page cache. */
  direct: boolean;
  /** The file read (its inode), so that a later step can tell it is the same file. */
  dev: number;
  ino: number;
}

interface FromWorker {
  done?: ReadBack;
  error?: { message: string; code?: string };
}

/**
 * A read-back that trails a file being written: `advance(n)` whenever the first n
 * bytes are on the medium (fdatasync returned), `finish()` after the last write and
 * its sync. Errors (open, read) are the file system's, with their errno `code`.
 */
export class TrailingReadBack {
  readonly #worker: Worker;
  readonly #result: Promise<ReadBack>;
  #closed = false;

  constructor(path: string) {
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, chunk: CHUNK, page: PAGE, step: STEP },
      // Its buffers live outside the heap; the heap holds one hash state.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.#result = new Promise<ReadBack>((resolve, reject) => {
      this.#worker.on('message', (m: FromWorker) => {
        if (m.done !== undefined) resolve(m.done);
        if (m.error !== undefined) {
          reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        }
      });
      this.#worker.on('error', reject);
      this.#worker.on('exit', (code) =>
        reject(new Error(`read-back worker exited (code ${code}) before it finished`)),
      );
    });
    // Rejections are reported by finish(); until then they must not go unhandled.
    this.#result.catch(() => undefined);
  }

  /** The file's first `bytes` bytes are durable: read them back when convenient. */
  advance(bytes: number): void {
    if (!this.#closed) this.#worker.postMessage({ durable: bytes });
  }

  /** Read what is left, to the end of the file, and give the digest of the whole file. */
  finish(): Promise<ReadBack> {
    if (!this.#closed) this.#worker.postMessage({ finish: true });
    return this.#result;
  }

  /** Stop the worker (idempotent); an unfinished read-back then rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#worker.terminate();
  }
}

/** SHA-256 of `path`, read once, from the medium when O_DIRECT is available. */
export async function readBackSha256(path: string): Promise<ReadBack> {
  const reader = new TrailingReadBack(path);
  try {
    return await reader.finish();
  } finally {
    await reader.close();
  }
}
