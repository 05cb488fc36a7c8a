/**
 * Sequential file writer for network chunks (typically 16-64 KiB): copies them into
 * two fixed 1 MiB buffers and writes each full buffer with one positioned write, at
 * most one write in flight, so disk I/O overlaps the network and hashing while memory
 * stays fixed (two buffers) whatever the file size.
 *
 * Why copy instead of keeping the chunks until they are written: a chunk still
 * referenced when V8 runs a young-generation collection is moved to the old
 * generation, and its 64 KiB (held outside the JS heap) is then freed only by a full
 * collection, which V8 starts only after tens of MiB of such memory have piled up.
 * Copied, every socket chunk dies young and is freed by the next scavenge
 * (memory.ts paces those). The copy costs ~0.1 s per GiB.
 *
 * With `syncEveryBytes`, the writer also starts an fdatasync (on libuv's thread pool,
 * not waiting for it) each time that many bytes have been written since the last one,
 * so the page cache is written out while the download goes on: the final fsync before
 * the rename has little left to do, and a small device never holds hundreds of MiB of
 * dirty pages. At most one such sync runs at a time.
 *
 * When both buffers are busy (one full and being written, the other full), `enqueue`
 * keeps further chunks by reference and answers "full": the caller pauses its input
 * until `ready()` resolves, so at most what arrives during that pause is held.
 */
import type { FileHandle } from 'node:fs/promises';

export const DEFAULT_BATCH_BYTES = 1024 * 1024;
const BUFFERS = 2;

export class BatchWriter {
  readonly #free: Buffer[] = [];
  #current: Buffer | undefined;
  #fill = 0;
  /** Full buffers in file order, waiting for their write. */
  #queue: { buffer: Buffer; length: number }[] = [];
  /** Chunks (or their tails) that arrived while no buffer was free. */
  #waiting: Uint8Array[] = [];
  #inflight = false;
  #error: Error | undefined;
  #position: number;
  #changed: (() => void)[] = [];
  #sinceSync = 0;
  #syncing = false;

  constructor(
    private readonly handle: FileHandle,
    position: number,
    batchBytes: number = DEFAULT_BATCH_BYTES,
    private readonly syncEveryBytes = 0,
  ) {
    this.#position = position;
    for (let i = 0; i < BUFFERS; i++) this.#free.push(Buffer.allocUnsafeSlow(batchBytes));
  }

  /**
   * Take a chunk without waiting. Returns true when the caller should stop feeding
   * until ready() resolves. The chunk's bytes are copied (or, when full, kept until
   * a buffer is free): the caller may drop it.
   */
  enqueue(chunk: Uint8Array): boolean {
    if (this.#waiting.length > 0) this.#waiting.push(chunk);
    else this.#copyIn(chunk);
    return this.#waiting.length > 0;
  }

  /** Resolves when the writer can take more; rejects with the first write error. */
  async ready(): Promise<void> {
    while (this.#waiting.length > 0 && this.#error === undefined) await this.#nextChange();
    if (this.#error !== undefined) throw this.#error;
  }

  /** Queue a chunk and wait if the writer is full (backpressure). */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.enqueue(chunk)) await this.ready();
  }

  /** Write everything taken so far and wait for it. Throws the first write error. */
  async flush(): Promise<void> {
    await this.ready();
    if (this.#current !== undefined && this.#fill > 0) this.#queueCurrent();
    while (
      (this.#inflight || this.#queue.length > 0 || this.#syncing) &&
      this.#error === undefined
    ) {
      await this.#nextChange();
    }
    if (this.#error !== undefined) throw this.#error;
  }

  #copyIn(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#current === undefined) {
        const buffer = this.#free.pop();
        if (buffer === undefined) {
          this.#waiting.push(offset === 0 ? chunk : chunk.subarray(offset));
          return;
        }
        this.#current = buffer;
        this.#fill = 0;
      }
      const n = Math.min(chunk.length - offset, this.#current.length - this.#fill);
      this.#current.set(chunk.subarray(offset, offset + n), this.#fill);
      this.#fill += n;
      offset += n;
      if (this.#fill === this.#current.length) this.#queueCurrent();
    }
  }

  #queueCurrent(): void {
    this.#queue.push({ buffer: this.#current!, length: this.#fill });
    this.#current = undefined;
    this.#fill = 0;
    this.#startWrite();
  }

  #startWrite(): void {
    if (this.#inflight || this.#error !== undefined) return;
    const next = this.#queue.shift();
    if (next === undefined) return;
    const position = this.#position;
    this.#position += next.length;
    this.#inflight = true;
    // The rejection is stored, not left unhandled; the next ready/flush rethrows it.
    writeFully(this.handle, next.buffer, next.length, position).then(
      () => {
        this.#inflight = false;
        this.#free.push(next.buffer);
        this.#sinceSync += next.length;
        this.#startSync();
        this.#drainWaiting();
        // Keep the disk busy: write the next full buffer without waiting for a caller.
        this.#startWrite();
        this.#notify();
      },
      (err: unknown) => {
        this.#inflight = false;
        this.#error = err instanceof Error ? err : new Error(String(err));
        this.#notify();
      },
    );
  }

  #startSync(): void {
    if (this.syncEveryBytes <= 0 || this.#sinceSync < this.syncEveryBytes || this.#syncing) return;
    this.#sinceSync = 0;
    this.#syncing = true;
    this.handle.datasync().then(
      () => {
        this.#syncing = false;
        this.#notify();
      },
      (err: unknown) => {
        this.#syncing = false;
        this.#error ??= err instanceof Error ? err : new Error(String(err));
        this.#notify();
      },
    );
  }

  /** Move what was waiting into the free buffer, in order. */
  #drainWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    let i = 0;
    while (i < waiting.length && this.#waiting.length === 0) this.#copyIn(waiting[i++]!);
    this.#waiting.push(...waiting.slice(i));
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => this.#changed.push(resolve));
  }

  #notify(): void {
    const waiters = this.#changed;
    this.#changed = [];
    for (const w of waiters) w();
  }
}

async function writeFully(
  handle: FileHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<void> {
  let written = 0;
  // A positioned write may write less than asked (rare on regular files); finish it.
  while (written < length) {
    const { bytesWritten } = await handle.write(
      buffer,
      written,
      length - written,
      position + written,
    );
    if (bytesWritten === 0) throw new Error(`write at ${position + written} made no progress`);
    written += bytesWritten;
  }
}
