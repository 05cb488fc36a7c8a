/**
 * The `rollout` gate (docs/operating.md "Rolling a release out in waves"): whether this
 * device's wave of the release's signed schedule is open. A policy gate like the
 * maintenance window: `--force` overrides it.
 */
import { compareVersions } from '../config/version.js';
import { decideRollout, rolloutBucket, type RolloutSchedule } from '../fleet/rollout.js';
import type { GateVerdict } from './verdict.js';

export interface RolloutFacts {
  schedule: RolloutSchedule | undefined;
  /** The release on offer. */
  version: string;
  /** undefined: not known (the version gate reports that). */
  runningVersion: string | undefined;
  /** The device identifier; undefined: none yet (`check` on a device `apply` never ran on). */
  deviceId: string | undefined;
  /** The publisher paused the rollout (`publish --pause`). */
  paused?: boolean | undefined;
  now: Date;
  force: boolean;
}

export function rolloutGate(f: RolloutFacts): GateVerdict {
  const gate = 'rollout';
  if (f.paused) return pausedVerdict(f);
  if (f.schedule === undefined) {
    return {
      gate,
      pass: true,
      skipped: true,
      message: 'no rollout schedule: every device at once',
    };
  }
  if (f.force) return { gate, pass: true, skipped: true, message: 'skipped (--force)' };
  // A device already on this release (or a newer one) is not held back by its schedule.
  if (f.runningVersion !== undefined && compareVersions(f.version, f.runningVersion) <= 0) {
    return { gate, pass: true, skipped: true, message: `not an update for this device` };
  }
  const bucket = f.deviceId === undefined ? undefined : rolloutBucket(f.deviceId, f.version);
  const decision = decideRollout(f.schedule, f.now, bucket);
  if (decision.open) return { gate, pass: true, message: decision.explanation };
  if (bucket === undefined && decision.position.openWaves > 0) {
    // check writes nothing, so it cannot draw the identifier; apply draws it and decides.
    // (With no wave open yet, every bucket is refused: check says so too.)
    return {
      gate,
      pass: true,
      skipped: true,
      message: `${decision.explanation} (apply creates it and decides)`,
    };
  }
  return { gate, pass: false, code: 'ROLLOUT_NOT_OPEN', message: decision.explanation };
}

/**
 * A paused rollout (docs/publishing.md "Pausing a rollout"): no device starts it, whatever
 * its wave; a device already running it (or a newer one) is not concerned. `--force`
 * overrides it like the waves.
 */
function pausedVerdict(f: RolloutFacts): GateVerdict {
  const gate = 'rollout';
  if (f.runningVersion !== undefined && compareVersions(f.version, f.runningVersion) <= 0) {
    return {
      gate,
      pass: true,
      skipped: true,
      message: `paused, but not an update for this device`,
    };
  }
  if (f.force) return { gate, pass: true, skipped: true, message: 'paused; skipped (--force)' };
  return {
    gate,
    pass: false,
    code: 'ROLLOUT_PAUSED',
    message: `the publisher paused the rollout of ${f.version}; devices that have not started it wait until it is resumed`,
  };
}
