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
 * dirty pages. At most one such sync runs at a time. When it returns, `onDurable` is
 * told how much of the file it covered (everything written before it started), so a
 * read-back can follow (src/fs/read-back.ts, TrailingReadBack).
 *
 * When both buffers are busy (one full and being written, the other full), `enqueue`
 * keeps further chunks by reference and answers "full": the caller pauses its input
 * until `ready()` resolves, so at most what arrives during that pause is held.
 */
import type { FileHandle } from 'node:fs/promises';
import { SlotFiller } from '../../fs/slot-filler.js';

export const DEFAULT_BATCH_BYTES = 1024 * 1024;
const BUFFERS = 2;

export class BatchWriter {
  readonly #buffers: Buffer[] = [];
  readonly #filler: SlotFiller;
  /** Full buffers in file order, waiting for their write. */
  #queue: { slot: number; length: number }[] = [];
  #inflight = false;
  #error: Error | undefined;
  #position: number;
  #changed: (() => void)[] = [];
  /** End of the last finished write: the file is complete up to here. */
  #written: number;
  #sinceSync = 0;
  #syncing = false;

  constructor(
    private readonly handle: FileHandle,
    position: number,
    batchBytes: number = DEFAULT_BATCH_BYTES,
    private readonly syncEveryBytes = 0,
    private readonly onDurable: (bytes: number) => void = () => undefined,
  ) {
    this.#position = position;
    this.#written = position;
    for (let i = 0; i < BUFFERS; i++) this.#buffers.push(Buffer.allocUnsafeSlow(batchBytes));
    this.#filler = new SlotFiller(this.#buffers, (slot, length) => {
      this.#queue.push({ slot, length });
      this.#startWrite();
    });
  }

  /**
   * Take a chunk without waiting. Returns true when the caller should stop feeding
   * until ready() resolves. The chunk's bytes are copied (or, when full, kept until
   * a buffer is free): the caller may drop it.
   */
  enqueue(chunk: Uint8Array): boolean {
    return this.#filler.take(chunk);
  }

  /** Resolves when the writer can take more; rejects with the first write error. */
  async ready(): Promise<void> {
    while (this.#filler.waiting && this.#error === undefined) await this.#nextChange();
    if (this.#error !== undefined) throw this.#error;
  }

  /** Queue a chunk and wait if the writer is full (backpressure). */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.enqueue(chunk)) await this.ready();
  }

  /** Write everything taken so far and wait for it. Throws the first write error. */
  async flush(): Promise<void> {
    await this.ready();
    this.#filler.flushPartial();
    while (
      (this.#inflight || this.#queue.length > 0 || this.#syncing) &&
      this.#error === undefined
    ) {
      await this.#nextChange();
    }
    if (this.#error !== undefined) throw this.#error;
  }

  #startWrite(): void {
    if (this.#inflight || this.#error !== undefined) return;
    const next = this.#queue.shift();
    if (next === undefined) return;
    const position = this.#position;
    this.#position += next.length;
    this.#inflight = true;
    // The rejection is stored, not left unhandled; the next ready/flush rethrows it.
    writeFully(this.handle, this.#buffers[next.slot]!, next.length, position).then(
      () => {
        this.#inflight = false;
        this.#written = position + next.length;
        this.#sinceSync += next.length;
        this.#startSync();
        this.#filler.release(next.slot);
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
    const covered = this.#written;
    this.handle.datasync().then(
      () => {
        this.#syncing = false;
        this.onDurable(covered);
        this.#notify();
      },
      (err: unknown) => {
        this.#syncing = false;
        this.#error ??= err instanceof Error ? err : new Error(String(err));
        this.#notify();
      },
    );
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
