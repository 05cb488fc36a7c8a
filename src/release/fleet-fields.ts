/**
 * The fields a release tool writes into latest.json beside the images, the same for
 * `publish` (HTTP) and `push` (the OCI metadata layer): what the release is for
 * (channel, architecture, boards, minimum running version, notes) and the fleet-safety
 * fields `expires`, `rollout` and `min_version` (docs/formats.md, docs/publishing.md
 * "Waves, floor and expiry"). In the model's form: `latestJsonOf` writes the wire.
 */
import type { RolloutSchedule } from '../fleet/rollout.js';
import type { ReleaseMetadata } from '../metadata/model.js';

export interface FleetFields {
  /** Seconds from now after which devices refuse the metadata (`expires`). */
  expiresInSeconds?: number | undefined;
  /** Staged rollout; absent: every device at its next check. */
  rollout?: RolloutSchedule | undefined;
  /** Raises every device's anti-rollback floor to this version. */
  minVersion?: string | undefined;
  /** Published paused (`--pause`): devices do not start it until it is resumed. */
  paused?: boolean | undefined;
}

/** What `publish` and `push` are told about a release besides its images. */
export interface ReleaseFields extends FleetFields {
  channel?: string | undefined;
  /** Go architecture name. */
  architecture?: string | undefined;
  /** Board names the release is built for (`compatible`). */
  compatible?: readonly string[] | undefined;
  minCompatibleVersion?: string | undefined;
  releaseNotes?: string | undefined;
}

/** RFC 3339 in UTC with whole seconds, the form Go's time.RFC3339 prints. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

type DescribedFields = Pick<
  ReleaseMetadata,
  | 'channel'
  | 'architecture'
  | 'compatible'
  | 'minCompatibleVersion'
  | 'releaseNotes'
  | 'expires'
  | 'rollout'
  | 'minVersion'
  | 'paused'
>;

/** The metadata fields for `o` at `now` (`expires` counts from when it is written). */
export function releaseFields(o: ReleaseFields, now: Date): DescribedFields {
  const fields: DescribedFields = {};
  if (o.channel) fields.channel = o.channel;
  if (o.architecture) fields.architecture = o.architecture;
  if (o.compatible !== undefined && o.compatible.length > 0) fields.compatible = [...o.compatible];
  if (o.minCompatibleVersion) fields.minCompatibleVersion = o.minCompatibleVersion;
  if (o.releaseNotes !== undefined) fields.releaseNotes = o.releaseNotes;
  if (o.expiresInSeconds !== undefined) {
    fields.expires = rfc3339(new Date(now.getTime() + o.expiresInSeconds * 1000));
  }
  if (o.rollout !== undefined) fields.rollout = o.rollout;
  if (o.minVersion !== undefined) fields.minVersion = o.minVersion;
  if (o.paused === true) fields.paused = true;
  return fields;
}
