/**
 * A probe for the maintenance window tests: the first instant at or after `from` at
 * which src/config/window.ts's isWithinWindow says the window is open. It walks real
 * instants minute by minute, so on DST days it asks the platform's zone rules, which
 * is what the tests want to see through.
 */
import { isWithinWindow, type MaintenanceWindow } from '../../src/config/window.js';

/** `from` when open now, else the next whole minute that is; undefined: never opens. */
export function nextOpening(
  w: MaintenanceWindow | undefined,
  from: Date,
  timeZone?: string,
): Date | undefined {
  if (isWithinWindow(w, from, timeZone)) return from;
  if (w === undefined || w.start === w.end) return undefined;
  const first = new Date(Math.ceil(from.getTime() / 60_000) * 60_000);
  // Any non-empty window opens within two days plus one hour (a DST gap).
  const limit = 2 * 24 * 60 + 60;
  for (let i = 0; i <= limit; i++) {
    const at = new Date(first.getTime() + i * 60_000);
    if (isWithinWindow(w, at, timeZone)) return at;
  }
  return undefined;
}
