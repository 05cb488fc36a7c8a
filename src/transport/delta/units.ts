/**
 * Where a repacked archive is cut into units (docs/delta.md "Units"): at entry
 * boundaries, so that a changed file changes the units that hold it and no other;
 * small entries grouped (a group ends after an entry whose path hashes to 0 mod 8
 * once it holds half the average, or at four times the average: content-defined, so
 * a file added or removed moves no later group boundary); an entry of four times the
 * average or more is a group of its own and is cut inside by content
 * (./cdc.ts), so a large binary that changes a little changes only the units around
 * the change.
 */
import { Chunker, cdcParams } from './cdc.js';

export interface EntrySpan {
  name: string;
  offset: number;
  end: number;
}

/**
 * FNV-1a, 32 bits, of a path's UTF-16 code units: where a group of small entries may end,
 * and (repack.ts) a stable inode number from a path.
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Cut points (exclusive ends, ascending, the last = archive.length) of the archive's units. */
export function unitCuts(archive: Uint8Array, entries: EntrySpan[], avgLog2: number): number[] {
  const p = cdcParams(avgLog2);
  const big = 4 * p.avg;
  const cuts: number[] = [];
  let groupStart = 0;
  const cut = (at: number) => {
    if (at > (cuts.at(-1) ?? 0)) cuts.push(at);
  };
  for (const e of entries) {
    const length = e.end - e.offset;
    if (length >= big) {
      cut(e.offset);
      const chunker = new Chunker(p);
      for (const c of chunker.feed(archive, e.offset, e.end)) cut(c);
      cut(e.end);
      groupStart = e.end;
      continue;
    }
    const held = e.end - groupStart;
    if ((held >= p.avg / 2 && fnv1a(e.name) % 8 === 0) || held >= big) {
      cut(e.end);
      groupStart = e.end;
    }
  }
  cut(archive.length);
  return cuts;
}
