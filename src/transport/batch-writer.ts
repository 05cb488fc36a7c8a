/**
 * Sequential file writer that batches network chunks (typically 16-64 KiB) into ~1 MiB
 * writev() calls with at most one write in flight, so disk I/O overlaps the network
 * and hashing while memory stays bounded (about two batches) whatever the file size.
 */
import type { FileHandle } from 'node:fs/promises';

export const DEFAULT_BATCH_BYTES = 1024 * 1024;

export class BatchWriter {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #inflight: Promise<void> | undefined;
  #error: Error | undefined;
  #position: number;

  constructor(
    private readonly handle: FileHandle,
    position: number,
    private readonly batchBytes: number = DEFAULT_BATCH_BYTES,
  ) {
    this.#position = position;
  }

  /**
   * Queue a chunk without waiting. Returns true when the caller should stop feeding
   * until ready() resolves: a full batch is queued behind the write in flight.
   */
  enqueue(chunk: Uint8Array): boolean {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes < this.batchBytes) return false;
    if (this.#inflight === undefined && this.#error === undefined) this.#start();
    return this.#bytes >= this.batchBytes;
  }

  /** Resolves when the writer can take more; rejects with the first write error. */
  async ready(): Promise<void> {
    while (this.#bytes >= this.batchBytes) {
      await this.#wait();
      if (this.#bytes >= this.batchBytes) this.#start();
    }
  }

  /** Queue a chunk and wait if the writer is full (backpressure). */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.enqueue(chunk)) await this.ready();
  }

  /** Write everything queued and wait for it. Throws the first write error. */
  async flush(): Promise<void> {
    await this.#wait();
    if (this.#bytes > 0) {
      this.#start();
      await this.#wait();
    }
  }

  async #wait(): Promise<void> {
    if (this.#inflight) await this.#inflight;
    if (this.#error !== undefined) throw this.#error;
  }

  #start(): void {
    const chunks = this.#chunks;
    const position = this.#position;
    this.#position += this.#bytes;
    this.#chunks = [];
    this.#bytes = 0;
    // The rejection is stored, not left unhandled; the next push/flush rethrows it.
    this.#inflight = writeFully(this.handle, chunks, position).then(
      () => {
        this.#inflight = undefined;
        // Keep the disk busy: start the next full batch without waiting for a caller.
        if (this.#bytes >= this.batchBytes && this.#error === undefined) this.#start();
      },
      (err: unknown) => {
        this.#inflight = undefined;
        this.#error = err instanceof Error ? err : new Error(String(err));
      },
    );
  }
}

async function writeFully(
  handle: FileHandle,
  chunks: Uint8Array[],
  position: number,
): Promise<void> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  let written = (await handle.writev(chunks, position)).bytesWritten;
  // writev may write less than asked (rare on regular files); finish the remainder.
  if (written < total) {
    const rest = Buffer.concat(chunks).subarray(written);
    let offset = 0;
    while (offset < rest.length) {
      const { bytesWritten } = await handle.write(
        rest,
        offset,
        rest.length - offset,
        position + written,
      );
      offset += bytesWritten;
      written += bytesWritten;
    }
  }
}
