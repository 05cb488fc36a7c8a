/**
 * The fleet-safety fields a release tool writes into latest.json, the same for
 * `publish` (HTTP) and `push` (the OCI metadata layer): `expires`, `rollout` and
 * `min_version` (docs/formats.md, docs/publishing.md "Waves, floor and expiry").
 */
import { rolloutJson, type RolloutSchedule } from '../fleet/rollout.js';

export interface FleetFields {
  /** Seconds from now after which devices refuse the metadata (`expires`). */
  expiresInSeconds?: number | undefined;
  /** Staged rollout; absent: every device at its next check. */
  rollout?: RolloutSchedule | undefined;
  /** Raises every device's anti-rollback floor to this version. */
  minVersion?: string | undefined;
}

/** RFC 3339 in UTC with whole seconds, the form Go's time.RFC3339 prints. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The latest.json fields for `o` at `now` (snake_case, as on the wire). */
export function fleetFieldsJson(
  o: FleetFields,
  now: Date,
): { expires?: string; rollout?: ReturnType<typeof rolloutJson>; min_version?: string } {
  return {
    ...(o.expiresInSeconds === undefined
      ? {}
      : { expires: rfc3339(new Date(now.getTime() + o.expiresInSeconds * 1000)) }),
    ...(o.rollout === undefined ? {} : { rollout: rolloutJson(o.rollout) }),
    ...(o.minVersion === undefined ? {} : { min_version: o.minVersion }),
  };
}
