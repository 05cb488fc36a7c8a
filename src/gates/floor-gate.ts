/**
 * The anti-rollback floor as a gate: the floor a release is judged against (the recorded
 * one, src/stores/floor.ts, raised by a signed `min_version`) and the verdict.
 */
import { compareVersions } from '../config/version.js';
import type { Floor } from '../stores/floor.js';
import type { GateVerdict } from './verdict.js';

/**
 * The floor a release is judged against: the recorded one, raised by the release's own
 * `min_version` when its metadata is signed (an unsigned `min_version` could only be
 * used to stop a device from ever updating again).
 */
export function effectiveFloor(
  recorded: Floor | undefined,
  minVersion: string | undefined,
  signed: boolean,
): string | undefined {
  if (minVersion === undefined || !signed) return recorded?.version;
  if (recorded === undefined) return minVersion;
  return compareVersions(minVersion, recorded.version) > 0 ? minVersion : recorded.version;
}

/** BELOW_FLOOR when `offered` is older than `floor`; never skipped by --force. */
export function floorGate(floor: string | undefined, offered: string): GateVerdict {
  const gate = 'floor';
  if (floor === undefined) {
    return { gate, pass: true, skipped: true, message: 'no anti-rollback floor recorded yet' };
  }
  if (compareVersions(offered, floor) >= 0) {
    return { gate, pass: true, message: `${offered} >= floor ${floor}` };
  }
  return {
    gate,
    pass: false,
    code: 'BELOW_FLOOR',
    message: `release ${offered} is below the anti-rollback floor ${floor} (a newer version was committed or required); publish a release at or above it`,
  };
}
