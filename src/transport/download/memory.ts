/**
 * Keep peak memory flat while streaming a large body.
 *
 * Every socket read hands us a new 64 KiB Buffer whose bytes live outside the V8 heap;
 * they are freed only when a garbage collection finds the small JS wrapper dead. V8
 * schedules collections by how much JS heap is allocated, not by these bytes, so at
 * download speed tens of MiB of dead chunks pile up between collections: a bare
 * undici read of a large body peaked at ~135 MiB RSS, the agent at 129-133 MiB,
 * varying with GC timing. Asking for a young-generation collection (a scavenge,
 * well under a millisecond with a young heap this small) after every 2 MiB received
 * ties the freeing to the bytes: peak ~104 MiB, and the download gets faster, not
 * slower, because the allocator keeps reusing the same warm memory (bench/RESULTS.md).
 *
 * The collector is reached through V8's `gc` extension, enabled at run time for a
 * separate context only (the agent's own global scope gets no `gc`). Where it is
 * not available, pacing is a no-op and memory is what V8 makes of it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const GC_PACE_BYTES = 2 * 1024 * 1024;

type MinorGc = () => void;
let minorGc: MinorGc | null | undefined;

function loadMinorGc(): MinorGc | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') return null;
    return () => (gc as (options: { type: string }) => void)({ type: 'minor' });
  } catch {
    return null;
  }
}

/** Counts received bytes and runs a scavenge after every `everyBytes`. */
export class GarbagePacer {
  #pending = 0;

  constructor(private readonly everyBytes = GC_PACE_BYTES) {}

  add(bytes: number): void {
    this.#pending += bytes;
    if (this.#pending < this.everyBytes) return;
    this.#pending = 0;
    if (minorGc === undefined) minorGc = loadMinorGc();
    minorGc?.();
  }
}
