/**
 * "Verifies as a device would accept it" made true at the source: the release tool
 * runs the device's own latest.json parser (src/metadata/parse.ts: fields, URLs,
 * sizes, versions the gates can order, expiry) over the exact bytes it is about to
 * publish, and refuses what a device would refuse, naming the flag that set the field.
 */
import { KubesoloError, UsageError } from '../errors.js';
import { parseReleaseMetadata } from '../metadata/parse.js';

/** latest.json field → the command-line flag that sets it. */
const FLAG_OF: Record<string, string> = {
  version: '--release-version',
  channel: '--channel',
  architecture: '--arch',
  min_compatible_version: '--min-compatible-version',
  release_notes: '--release-notes',
  release_date: '--release-date',
  expires: '--expires-in',
  min_version: '--min-version',
  rollout: '--wave',
  'rollout.start': '--rollout-start',
  vmlinuz_url: '--base-url',
  initramfs_url: '--base-url',
};

/**
 * Refuse `bytes` unless a device reading them from `metadataUrl` at `now` accepts
 * them. The error keeps the device's reason code (INVALID_VERSION, ...) as a usage
 * error (exit 2): the input is wrong, nothing was published.
 */
export function refuseWhatDevicesRefuse(bytes: Uint8Array, metadataUrl: string, now: Date): void {
  try {
    parseReleaseMetadata(bytes, metadataUrl, now);
  } catch (err) {
    if (!(err instanceof KubesoloError)) throw err;
    const field = typeof err.details.field === 'string' ? err.details.field : undefined;
    // `rollout.waves[1].after` is set by --wave: look up the field, then its top level.
    const flag =
      field === undefined ? undefined : (FLAG_OF[field] ?? FLAG_OF[field.split(/[.[]/)[0]!]);
    throw new UsageError(
      err.code,
      `${flag ? `${flag}: ` : ''}a device would refuse this release: ${err.message}`,
      { cause: err, details: { ...err.details, ...(flag ? { flag } : {}) } },
    );
  }
}
