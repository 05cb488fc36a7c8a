/**
 * The gates of the device's memory of releases (src/stores/releases.ts, docs/operating.md
 * "Failed releases"): a quarantined release is refused until a different release is
 * offered (a newer version, or the same version with other images), `forget`, or
 * `--force`; a release whose images failed verification the same way three times in a
 * row is tried again only after its back-off. Both judge only an update: a release the
 * device already runs (or an older one) is the version gate's business.
 */
import { compareVersions } from '../config/version.js';
import { ARTIFACT_NAMES } from '../metadata/images.js';
import type { ReleaseMetadata } from '../metadata/model.js';
import type { SlotDigests } from '../slots/types.js';
import {
  backoffUntil,
  quarantineOf,
  recordOf,
  type ReleaseIdentity,
  type ReleaseRecord,
} from '../stores/releases.js';
import type { GateVerdict } from './verdict.js';

/** A release as the device remembers it: its version and its images' pinned SHA-256. */
export function releaseIdentity(md: ReleaseMetadata): ReleaseIdentity {
  const images = Object.fromEntries(
    ARTIFACT_NAMES.map((name) => [name, md.images[name].sha256.toLowerCase()]),
  ) as SlotDigests;
  return { version: md.version, images };
}

export interface MemoryFacts {
  metadata: ReleaseMetadata;
  /** undefined: not known (the version gate reports that). */
  runningVersion: string | undefined;
  /** What the device remembers (src/stores/releases.ts). */
  releases: readonly ReleaseRecord[];
  now: Date;
  force: boolean;
}

/** The offer is not an update (or the running version is unknown): these gates say nothing. */
function notAnUpdate(f: MemoryFacts): boolean {
  return (
    f.runningVersion === undefined || compareVersions(f.metadata.version, f.runningVersion) <= 0
  );
}

export function quarantineGate(f: MemoryFacts): GateVerdict | undefined {
  const gate = 'quarantine';
  if (notAnUpdate(f)) return undefined;
  const version = f.metadata.version;
  const record = quarantineOf(f.releases, releaseIdentity(f.metadata));
  if (record?.quarantined === undefined) {
    return { gate, pass: true, message: `${version} is not quarantined on this device` };
  }
  if (f.force)
    return {
      gate,
      pass: true,
      skipped: true,
      message: `${version} is quarantined; skipped (--force)`,
    };
  const which = record.images === undefined ? `${version} (every image of it)` : version;
  return {
    gate,
    pass: false,
    code: 'QUARANTINED',
    message: `${which} was quarantined on this device at ${record.quarantined.at} (${record.quarantined.reason}); refused until a newer release or the same version with other images is offered, 'kubesolo-update forget ${version}', or --force`,
  };
}

export function verificationBackoffGate(f: MemoryFacts): GateVerdict | undefined {
  const gate = 'verification_backoff';
  if (notAnUpdate(f)) return undefined;
  const record = recordOf(f.releases, releaseIdentity(f.metadata));
  const until = backoffUntil(record);
  const v = record?.verification;
  if (until === undefined || v === undefined || until.getTime() <= f.now.getTime()) {
    return { gate, pass: true, message: 'no verification back-off' };
  }
  if (f.force)
    return { gate, pass: true, skipped: true, message: 'backing off; skipped (--force)' };
  return {
    gate,
    pass: false,
    code: 'VERIFICATION_BACKOFF',
    message: `the images of ${f.metadata.version} failed verification ${v.failures} times in a row (${v.code}, last at ${v.lastAt}); next try after ${until.toISOString()} (or --force)`,
  };
}
