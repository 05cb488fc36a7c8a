/**
 * SHA-512 of a stream, computed on a worker thread.
 *
 * Streaming Ed25519 verification hashes every image byte with SHA-512 (ed25519.ts):
 * ~1.4 s of CPU per GiB on top of what the agent's one thread already does (HTTP
 * parsing, SHA-256, writing). A second core can take it. The bytes cross in a ring of
 * fixed slots in one SharedArrayBuffer: the main thread copies a chunk into a free
 * slot and posts its index; the worker hashes the slot in place and posts the index
 * back. Nothing is allocated per message, memory is fixed (slots × slot size), and
 * when every slot is with the worker, `update` keeps the chunk (no copy) and answers
 * "wait": the caller pauses its input until `ready()` resolves.
 *
 * The worker's code is a short CommonJS string (`eval: true`), so the single-file
 * bundle needs no second file.
 */
import { Worker } from 'node:worker_threads';
import { OperationError } from '../errors.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { ring, slotBytes } = workerData;
const hash = createHash('sha512');
parentPort.on('message', (m) => {
  if (m.slot !== undefined) {
    hash.update(new Uint8Array(ring, m.slot * slotBytes, m.length));
    parentPort.postMessage({ slot: m.slot });
  } else {
    parentPort.postMessage({ digest: hash.digest('hex') });
  }
});
`;

export const SHA512_WORKER_SLOT_BYTES = 1024 * 1024;
export const SHA512_WORKER_SLOTS = 4;

interface FromWorker {
  slot?: number;
  digest?: string;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
}

export class Sha512Worker {
  readonly #worker: Worker;
  readonly #ring: Uint8Array;
  readonly #slotBytes: number;
  readonly #free: number[] = [];
  /** The slot being filled, and how far. */
  #slot: number | undefined;
  #fill = 0;
  /** Chunks (or their tails) that arrived while every slot was with the worker. */
  #waiting: Uint8Array[] = [];
  #readyWaiters: Waiter<void>[] = [];
  #digestWaiter: Waiter<Buffer> | undefined;
  #failure: Error | undefined;
  #closed = false;

  constructor(slotBytes = SHA512_WORKER_SLOT_BYTES, slots = SHA512_WORKER_SLOTS) {
    const ring = new SharedArrayBuffer(slotBytes * slots);
    this.#ring = new Uint8Array(ring);
    this.#slotBytes = slotBytes;
    for (let i = slots - 1; i >= 0; i--) this.#free.push(i);
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ring, slotBytes },
      // The worker holds one hash state: a small heap is plenty.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.#worker.on('message', (m: FromWorker) => this.#onMessage(m));
    this.#worker.on('error', (err) =>
      this.#fail(
        new OperationError('HASH_WORKER_FAILED', `SHA-512 worker failed: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    this.#worker.on('exit', (code) => {
      if (!this.#closed) {
        this.#fail(
          new OperationError('HASH_WORKER_FAILED', `SHA-512 worker exited (code ${code})`, {
            details: { exitCode: code },
          }),
        );
      }
    });
  }

  /**
   * Feed bytes. Returns true when the caller should wait for ready() before more.
   * Never throws (it runs inside stream event handlers): after a failure it answers
   * "wait", and ready() rejects with the failure.
   */
  update(chunk: Uint8Array): boolean {
    if (this.#failure) return true;
    if (this.#waiting.length > 0) this.#waiting.push(chunk);
    else this.#copyIn(chunk);
    return this.#waiting.length > 0;
  }

  /** Resolves when nothing is waiting for a slot. */
  ready(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /** The SHA-512 of everything fed. Call once, after the last update; then close(). */
  async digest(): Promise<Buffer> {
    await this.ready();
    if (this.#failure) throw this.#failure;
    if (this.#slot !== undefined && this.#fill > 0) this.#send();
    const result = new Promise<Buffer>((resolve, reject) => {
      this.#digestWaiter = { resolve, reject };
    });
    this.#worker.postMessage({});
    return result;
  }

  /** Stop the worker (idempotent); pending waits are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new OperationError('HASH_WORKER_CLOSED', 'SHA-512 worker closed'));
    await this.#worker.terminate();
  }

  #copyIn(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#slot === undefined) {
        const slot = this.#free.pop();
        if (slot === undefined) {
          this.#waiting.push(offset === 0 ? chunk : chunk.subarray(offset));
          return;
        }
        this.#slot = slot;
        this.#fill = 0;
      }
      const n = Math.min(chunk.length - offset, this.#slotBytes - this.#fill);
      this.#ring.set(chunk.subarray(offset, offset + n), this.#slot * this.#slotBytes + this.#fill);
      this.#fill += n;
      offset += n;
      if (this.#fill === this.#slotBytes) this.#send();
    }
  }

  #send(): void {
    this.#worker.postMessage({ slot: this.#slot, length: this.#fill });
    this.#slot = undefined;
    this.#fill = 0;
  }

  #onMessage(m: FromWorker): void {
    if (m.digest !== undefined) {
      const waiter = this.#digestWaiter;
      this.#digestWaiter = undefined;
      waiter?.resolve(Buffer.from(m.digest, 'hex'));
      return;
    }
    if (m.slot === undefined) return;
    this.#free.push(m.slot);
    // Move what was waiting into the free slot, in order.
    const waiting = this.#waiting;
    this.#waiting = [];
    let i = 0;
    while (i < waiting.length && this.#waiting.length === 0) this.#copyIn(waiting[i++]!);
    this.#waiting.push(...waiting.slice(i));
    if (this.#waiting.length === 0) {
      const waiters = this.#readyWaiters;
      this.#readyWaiters = [];
      for (const w of waiters) w.resolve();
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w.reject(this.#failure);
    this.#digestWaiter?.reject(this.#failure);
    this.#digestWaiter = undefined;
  }
}
