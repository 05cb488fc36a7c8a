/**
 * Content-defined cut points (FastCDC: Xia et al., USENIX ATC 2016): a gear hash over
 * the bytes since the last cut, a stricter mask before the average size and a looser
 * one after it, hard minimum and maximum. A cut depends only on the bytes since the
 * previous cut, so two files that share a run of bytes cut it the same way once both
 * have resynchronised (within one piece): this is what lets a device find the pieces
 * of a new image in an old one without anyone having told it where they are.
 *
 * The chunker is streaming (`feed` any number of buffers) because a device scans a
 * 1 GiB image with a few MiB of memory (docs/delta.md "Memory").
 */
import { createHash } from 'node:crypto';

/** 256 fixed gear values (SHA-256 of their index): the same cuts on every machine. */
const GEAR = (() => {
  const gear = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    gear[i] = createHash('sha256').update(`gear${i}`).digest().readUInt32LE(0);
  }
  return gear;
})();

/** A mask with `bits` one-bits spread over the high half of the hash (the bits that saw most bytes). */
function spreadMask(bits: number): number {
  let mask = 0;
  const step = Math.max(1, Math.floor(24 / bits));
  for (let i = 0, b = 31; i < bits && b >= 0; i++, b -= step) mask |= 1 << b;
  return mask >>> 0;
}

export interface CdcParams {
  readonly avg: number;
  readonly min: number;
  readonly max: number;
  readonly maskS: number;
  readonly maskL: number;
}

/** Parameters for an average piece of 2^avgLog2 bytes (minimum avg/4, maximum avg*4, as casync). */
export function cdcParams(avgLog2: number): CdcParams {
  const avg = 2 ** avgLog2;
  return {
    avg,
    min: avg / 4,
    max: avg * 4,
    maskS: spreadMask(avgLog2 + 2),
    maskL: spreadMask(avgLog2 - 2),
  };
}

/**
 * Streaming cut finder: `feed` returns the cut points inside the buffer (offsets
 * relative to it, exclusive ends); `reset` starts a new piece (an outside cut).
 */
export class Chunker {
  #since = 0;
  #hash = 0;

  constructor(private readonly p: CdcParams) {}

  /** Bytes since the last cut. */
  get pending(): number {
    return this.#since;
  }

  reset(): void {
    this.#since = 0;
    this.#hash = 0;
  }

  /** Cut points within buf[start, end), relative to buf. */
  feed(buf: Uint8Array, start = 0, end = buf.length): number[] {
    const { min, avg, max, maskS, maskL } = this.p;
    const cuts: number[] = [];
    let since = this.#since;
    let h = this.#hash;
    let i = start;
    while (i < end) {
      // Below the minimum no cut is possible and the hash is not needed: skip ahead.
      if (since < min) {
        const skip = Math.min(min - since, end - i);
        since += skip;
        i += skip;
        // The hash starts at the minimum (as FastCDC): bytes before it do not count.
        h = 0;
        continue;
      }
      h = ((h << 1) + GEAR[buf[i]!]!) >>> 0;
      since++;
      i++;
      const mask = since <= avg ? maskS : maskL;
      if ((h & mask) === 0 || since >= max) {
        cuts.push(i);
        since = 0;
        h = 0;
      }
    }
    this.#since = since;
    this.#hash = h;
    return cuts;
  }
}
