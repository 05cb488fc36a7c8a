/**
 * Copies a stream of chunks into a fixed set of equal-sized slots, for consumers that
 * work on whole slots (the batch writer writes one per positioned write, the SHA-512
 * worker hashes one per message). A full slot goes to `onFull`; the consumer hands it
 * back with `release` when done with it.
 *
 * Copying rather than keeping the chunks keeps memory fixed and lets every network
 * chunk die young (see src/transport/download/batch-writer.ts). When no slot is free, chunks
 * are kept by reference in arrival order and `take` answers "wait": the caller pauses
 * its input, so at most what arrives during that pause is held; `release` copies them
 * in as slots come back.
 */
export class SlotFiller {
  readonly #free: number[] = [];
  #current: number | undefined;
  #fill = 0;
  #waiting: Uint8Array[] = [];

  constructor(
    private readonly slots: readonly Uint8Array[],
    private readonly onFull: (slot: number, length: number) => void,
  ) {
    for (let i = slots.length - 1; i >= 0; i--) this.#free.push(i);
  }

  /** Whether chunks are waiting for a free slot (the caller should pause its input). */
  get waiting(): boolean {
    return this.#waiting.length > 0;
  }

  /** Take a chunk; true means "wait until a slot is released". */
  take(chunk: Uint8Array): boolean {
    if (this.#waiting.length > 0) this.#waiting.push(chunk);
    else this.#copyIn(chunk);
    return this.#waiting.length > 0;
  }

  /** Hand on the partly filled slot, if any (end of input, or before a flush). */
  flushPartial(): void {
    if (this.#current !== undefined && this.#fill > 0) this.#handOn();
  }

  /** A consumer is done with `slot`: reuse it, first for the chunks that were waiting. */
  release(slot: number): void {
    this.#free.push(slot);
    const waiting = this.#waiting;
    this.#waiting = [];
    let i = 0;
    while (i < waiting.length && this.#waiting.length === 0) this.#copyIn(waiting[i++]!);
    this.#waiting.push(...waiting.slice(i));
  }

  #copyIn(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#current === undefined) {
        const slot = this.#free.pop();
        if (slot === undefined) {
          this.#waiting.push(offset === 0 ? chunk : chunk.subarray(offset));
          return;
        }
        this.#current = slot;
        this.#fill = 0;
      }
      const target = this.slots[this.#current]!;
      const n = Math.min(chunk.length - offset, target.length - this.#fill);
      target.set(chunk.subarray(offset, offset + n), this.#fill);
      this.#fill += n;
      offset += n;
      if (this.#fill === target.length) this.#handOn();
    }
  }

  #handOn(): void {
    const slot = this.#current!;
    const length = this.#fill;
    this.#current = undefined;
    this.#fill = 0;
    this.onFull(slot, length);
  }
}
