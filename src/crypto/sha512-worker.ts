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
import { SlotFiller } from '../fs/slot-filler.js';

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

const SHA512_WORKER_SLOT_BYTES = 1024 * 1024;
const SHA512_WORKER_SLOTS = 4;

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
  readonly #filler: SlotFiller;
  #readyWaiters: Waiter<void>[] = [];
  #digestWaiter: Waiter<Buffer> | undefined;
  #failure: Error | undefined;
  #closed = false;

  constructor(slotBytes = SHA512_WORKER_SLOT_BYTES, slots = SHA512_WORKER_SLOTS) {
    const ring = new SharedArrayBuffer(slotBytes * slots);
    const views = Array.from(
      { length: slots },
      (_, i) => new Uint8Array(ring, i * slotBytes, slotBytes),
    );
    this.#filler = new SlotFiller(views, (slot, length) =>
      this.#worker.postMessage({ slot, length }),
    );
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ring, slotBytes },
      // The worker holds one hash state: a small heap is plenty.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.#worker.on('message', (m: FromWorker) => this.#onMessage(m));
    this.#worker.on('error', (err: Error) =>
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
    return this.#filler.take(chunk);
  }

  /** Resolves when nothing is waiting for a slot. */
  ready(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#filler.waiting) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /** The SHA-512 of everything fed. Call once, after the last update; then close(). */
  async digest(): Promise<Buffer> {
    await this.ready();
    if (this.#failure) throw this.#failure;
    this.#filler.flushPartial();
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

  #onMessage(m: FromWorker): void {
    if (m.digest !== undefined) {
      const waiter = this.#digestWaiter;
      this.#digestWaiter = undefined;
      waiter?.resolve(Buffer.from(m.digest, 'hex'));
      return;
    }
    if (m.slot === undefined) return;
    this.#filler.release(m.slot);
    if (!this.#filler.waiting) {
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
