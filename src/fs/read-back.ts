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
 * it every 32 MiB (src/transport/download/batch-writer.ts). A TrailingReadBack follows behind it, told each
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
 * One worker serves the whole process (reads are jobs, by id), started at the first
 * read-back and kept, unreferenced while idle so that it never holds the process
 * open: starting a thread costs more CPU than reading back a kernel image, and
 * `activate` reads two files. Its code is a CommonJS string (`eval: true`), so the
 * single-file bundle needs no second file.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { chunk: CHUNK, page: PAGE, step: STEP } = workerData;
const read = (fd, buf, off, len, pos) =>
  new Promise((res, rej) => fs.read(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res(n))));
const jobs = new Map();
// A symbolic link is never followed (ELOOP): what is read back is the slot's own file.
const READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;

function open(id, path) {
  const job = { id, hash: createHash('sha256'), direct: true, durable: 0, position: 0,
    finishing: false, pumping: false, over: false, fd: undefined, buffers: undefined };
  jobs.set(id, job);
  try {
    try {
      job.fd = fs.openSync(path, READ | fs.constants.O_DIRECT);
    } catch (e) {
      if (e.code !== 'EINVAL') throw e;
      job.direct = false;
      job.fd = fs.openSync(path, READ);
    }
  } catch (e) {
    end(job, { error: { message: String(e && e.message), code: e && e.code } });
  }
}

// Finished, failed or closed: report (unless closed), let go of the file.
function end(job, report) {
  if (job.over) return;
  job.over = true;
  jobs.delete(job.id);
  if (job.fd !== undefined) fs.close(job.fd, () => undefined);
  if (report) parentPort.postMessage({ id: job.id, ...report });
}

async function align(job) {
  const raw = Buffer.allocUnsafeSlow(2 * CHUNK + PAGE);
  let base;
  if (job.direct) {
    for (let off = 0; off < PAGE && base === undefined; off += STEP) {
      try {
        await read(job.fd, raw, off, PAGE, 0);
        base = off;
      } catch (e) {
        if (e.code !== 'EINVAL') throw e;
      }
    }
    if (base === undefined) job.direct = false;
  }
  const b = base ?? 0;
  job.buffers = [raw.subarray(b, b + CHUNK), raw.subarray(b + CHUNK, b + 2 * CHUNK)];
}

const canRead = (job) => job.finishing || job.position + CHUNK <= job.durable;

// Reads whole chunks of the durable prefix, double-buffered (the next read runs on
// the thread pool while this chunk hashes); on finish, reads on to the end of file.
async function pump(job) {
  if (job.pumping || job.over || !canRead(job)) return;
  job.pumping = true;
  try {
    if (job.buffers === undefined) await align(job);
    let turn = 0;
    let pending = read(job.fd, job.buffers[turn], 0, CHUNK, job.position);
    for (;;) {
      const n = await pending;
      if (job.over) return;
      const current = job.buffers[turn];
      job.position += n;
      const more = n === CHUNK;
      if (!more && !job.finishing) throw new Error('file ended before its durable size');
      turn ^= 1;
      pending = more && canRead(job) ? read(job.fd, job.buffers[turn], 0, CHUNK, job.position) : undefined;
      job.hash.update(current.subarray(0, n));
      if (!more) {
        const st = fs.fstatSync(job.fd);
        const done = { sha256: job.hash.digest('hex'), size: job.position, direct: job.direct,
          dev: st.dev, ino: st.ino };
        end(job, { done });
        return;
      }
      if (pending === undefined) break;
    }
  } catch (e) {
    end(job, { error: { message: String(e && e.message), code: e && e.code } });
  } finally {
    job.pumping = false;
  }
  // An advance or finish that arrived during the last read.
  void pump(job);
}

parentPort.on('message', (m) => {
  if (m.open !== undefined) return open(m.id, m.open);
  const job = jobs.get(m.id);
  if (job === undefined) return;
  if (m.close) return end(job);
  if (m.durable !== undefined) job.durable = Math.max(job.durable, m.durable);
  if (m.finish) job.finishing = true;
  void pump(job);
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
  id: number;
  done?: ReadBack;
  error?: { message: string; code?: string };
}

interface Job {
  resolve: (r: ReadBack) => void;
  reject: (err: Error) => void;
}

/** The process's read-back worker and the jobs waiting for it. */
class ReadBackWorker {
  readonly worker: Worker;
  readonly jobs = new Map<number, Job>();
  #nextId = 1;

  constructor(onGone: () => void) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { chunk: CHUNK, page: PAGE, step: STEP },
      // Its buffers live outside the heap; the heap holds a hash state per job.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => {
      const job = this.jobs.get(m.id);
      if (job === undefined) return;
      this.#forget(m.id);
      if (m.done !== undefined) job.resolve(m.done);
      else job.reject(Object.assign(new Error(m.error?.message), { code: m.error?.code }));
    });
    const gone = (err: Error): void => {
      onGone();
      for (const [id, job] of this.jobs) {
        this.#forget(id);
        job.reject(err);
      }
    };
    this.worker.on('error', gone);
    this.worker.on('exit', (code) => gone(new Error(`read-back worker exited (code ${code})`)));
  }

  start(path: string, job: Job): number {
    const id = this.#nextId++;
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(id, job);
    this.worker.postMessage({ id, open: path });
    return id;
  }

  post(id: number, message: { durable?: number; finish?: true; close?: true }): void {
    if (message.close) {
      const job = this.jobs.get(id);
      this.#forget(id);
      job?.reject(new Error('read-back closed before it finished'));
    }
    this.worker.postMessage({ id, ...message });
  }

  #forget(id: number): void {
    this.jobs.delete(id);
    // Idle: nothing must wait for this thread when the process is done.
    if (this.jobs.size === 0) this.worker.unref();
  }
}

let shared: ReadBackWorker | undefined;

function readBackWorker(): ReadBackWorker {
  shared ??= new ReadBackWorker(() => {
    shared = undefined;
  });
  return shared;
}

/**
 * A read-back that trails a file being written: `advance(n)` whenever the first n
 * bytes are on the medium (fdatasync returned), `finish()` after the last write and
 * its sync. Errors (open, read) are the file system's, with their errno `code`.
 */
export class TrailingReadBack {
  readonly #worker: ReadBackWorker;
  readonly #id: number;
  readonly #result: Promise<ReadBack>;
  #closed = false;

  constructor(path: string) {
    this.#worker = readBackWorker();
    let job!: Job;
    this.#result = new Promise<ReadBack>((resolve, reject) => {
      job = { resolve, reject };
    });
    // Rejections are reported by finish(); until then they must not go unhandled.
    this.#result.catch(() => undefined);
    this.#id = this.#worker.start(path, job);
  }

  /** The file's first `bytes` bytes are durable: read them back when convenient. */
  advance(bytes: number): void {
    if (!this.#closed) this.#worker.post(this.#id, { durable: bytes });
  }

  /** Read what is left, to the end of the file, and give the digest of the whole file. */
  finish(): Promise<ReadBack> {
    if (!this.#closed) this.#worker.post(this.#id, { finish: true });
    return this.#result;
  }

  /** Stop reading and let go of the file (idempotent); an unfinished finish() rejects. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#worker.post(this.#id, { close: true });
    }
    return Promise.resolve();
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
