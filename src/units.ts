/**
 * Sizes for people: the one formatting of a byte count in text output (free space,
 * download sizes, progress). JSON output and logs keep exact bytes; only the words a
 * person reads are rounded.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** `1023 B`, `1.5 KiB`, `3.0 GiB`: binary units, one decimal above a KiB. */
export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[i]}`;
}
