/**
 * What the device remembers of the releases it tried (docs/operating.md "Failed
 * releases"), kept on the data partition next to state.json as `releases.json`: per
 * release, the last outcome on this device (for the fleet's failure ratio, docs/fleet.md),
 * whether it is quarantined (`apply` refuses it until a different release is offered,
 * `--force`, or `forget`), and a run of identical verification failures of its images
 * (the back-off: a corrupt release is not downloaded four times a day).
 *
 * A release is its version and the SHA-256 of its images as the signed metadata pins
 * them: the same version with other images is another release. A record without images
 * (an operator's `mark-bad VERSION` of a release never staged here) stands for every
 * release of that version.
 *
 * Bounded (MAX_RELEASE_RECORDS, oldest dropped first, quarantined ones last) and written
 * atomically. A file that cannot be read is RELEASES_CORRUPT: reported by `status`, never
 * fatal to a command that boots or rolls back, and moved aside by the next write.
 */
import { rename } from 'node:fs/promises';
import { errnoCode, ioError, isReasonCode, OperationError } from '../errors.js';
import { atomicWriteFile } from '../fs/atomic.js';
import { readControlText } from '../fs/control-file.js';
import { ARTIFACT_NAMES } from '../metadata/images.js';
import type { Logger } from '../log.js';
import type { SlotDigests } from '../slots/types.js';

export const RELEASES_FILE = 'releases.json';

/** At most this many releases are remembered (bounded file, bounded metric labels). */
export const MAX_RELEASE_RECORDS = 32;

/** Bumped only for incompatible changes of the file's meaning. */
const SCHEMA_VERSION = 1;

/** 32 records of a few hundred bytes; a larger file is not one we wrote. */
const MAX_BYTES = 64 * 1024;

/**
 * How a release ended on this device: on trial (activated, not yet decided), committed,
 * rolled back by the device (health check, boot fallback, watchdog), rolled back by an
 * operator, marked bad by an operator, or refused because its images failed verification.
 */
const RELEASE_OUTCOMES = [
  'on_trial',
  'committed',
  'rolled_back',
  'manual_rollback',
  'marked_bad',
  'verification_failed',
] as const;
export type ReleaseOutcome = (typeof RELEASE_OUTCOMES)[number];

/** A release: its version and, when known, its images' pinned SHA-256. */
export interface ReleaseIdentity {
  version: string;
  images?: SlotDigests | undefined;
}

export interface ReleaseRecord extends ReleaseIdentity {
  /** Undefined for a release quarantined by name only (never tried here). */
  outcome?: ReleaseOutcome | undefined;
  /** The reason code of the outcome or the quarantine (HEALTH_CHECK_FAILED, ...). */
  reason?: string | undefined;
  /** RFC 3339: when this record last changed. */
  at: string;
  /** Set while the release is quarantined: when, and why (a reason code). */
  quarantined?: { at: string; reason: string } | undefined;
  /** The run of identical verification failures of its images, while it lasts. */
  verification?: { code: string; failures: number; lastAt: string } | undefined;
}

class ReleasesCorruptError extends OperationError {
  constructor(path: string, why: string, cause?: unknown) {
    super('RELEASES_CORRUPT', `${path} ${why}; the releases it remembered are not known`, {
      ...(cause === undefined ? {} : { cause }),
      details: { path },
    });
  }
}

/** Whether `record` stands for the release `identity` (a record without images: every image). */
export function describes(record: ReleaseIdentity, identity: ReleaseIdentity): boolean {
  if (record.version !== identity.version) return false;
  if (record.images === undefined) return true;
  if (identity.images === undefined) return false;
  return ARTIFACT_NAMES.every((name) => record.images?.[name] === identity.images?.[name]);
}

/** The record of exactly this release (images included), if any. */
function exactIndex(records: readonly ReleaseRecord[], identity: ReleaseIdentity): number {
  return records.findIndex(
    (r) =>
      r.version === identity.version &&
      (r.images === undefined) === (identity.images === undefined) &&
      describes(r, identity),
  );
}

/** The quarantine record that refuses `identity`, if any. */
export function quarantineOf(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
): ReleaseRecord | undefined {
  return records.find((r) => r.quarantined !== undefined && describes(r, identity));
}

/** The record of `identity` (exact first, then one without images), if any. */
export function recordOf(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
): ReleaseRecord | undefined {
  const exact = exactIndex(records, identity);
  return exact >= 0 ? records[exact] : records.find((r) => describes(r, identity));
}

/** `records` with `identity`'s record replaced by `change(old)`, moved to the end (newest). */
function upsert(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
  change: (old: ReleaseRecord | undefined) => ReleaseRecord,
): ReleaseRecord[] {
  const i = exactIndex(records, identity);
  const rest = records.filter((_, j) => j !== i);
  return bounded([...rest, change(i >= 0 ? records[i] : undefined)]);
}

/** Keep the newest MAX_RELEASE_RECORDS, dropping records that are not quarantined first. */
function bounded(records: ReleaseRecord[]): ReleaseRecord[] {
  const out = [...records];
  while (out.length > MAX_RELEASE_RECORDS) {
    const i = out.findIndex((r) => r.quarantined === undefined);
    out.splice(i >= 0 ? i : 0, 1);
  }
  return out;
}

export interface OutcomeChange {
  outcome: ReleaseOutcome;
  reason?: string | undefined;
  /** Quarantine the release with this reason code. */
  quarantine?: string | undefined;
}

/**
 * `records` with `identity`'s record changed by `fields` and stamped `now`: what `fields`
 * does not set is kept from the old record, the images are `identity`'s.
 */
function stamped(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
  now: Date,
  fields: (old: ReleaseRecord | undefined, at: string) => Partial<ReleaseRecord>,
): ReleaseRecord[] {
  const at = now.toISOString();
  return upsert(records, identity, (old) => ({
    ...(old ?? { version: identity.version }),
    ...(identity.images ? { images: { ...identity.images } } : {}),
    at,
    ...fields(old, at),
  }));
}

/** Record how `identity` ended (and quarantine it when asked); the run of verification failures ends. */
export function withOutcome(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
  change: OutcomeChange,
  now: Date,
): ReleaseRecord[] {
  return stamped(records, identity, now, (old, at) => ({
    outcome: change.outcome,
    reason: change.reason,
    quarantined:
      change.quarantine !== undefined ? { at, reason: change.quarantine } : old?.quarantined,
    verification: undefined,
  }));
}

/** Quarantine `identity` without an outcome (an operator's `mark-bad VERSION`). */
export function withQuarantine(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
  reason: string,
  now: Date,
): ReleaseRecord[] {
  return stamped(records, identity, now, (_old, at) => ({ quarantined: { at, reason } }));
}

/** Every record of `version` released from quarantine and its verification run ended (`forget`). */
export function withoutQuarantine(
  records: readonly ReleaseRecord[],
  version: string,
): ReleaseRecord[] {
  return records.map((r) =>
    r.version === version ? { ...r, quarantined: undefined, verification: undefined } : r,
  );
}

/**
 * One more verification failure of `identity`'s images with `code`: the run goes on
 * when the code is the same, starts again at 1 when it differs.
 */
export function withVerificationFailure(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
  code: string,
  now: Date,
): ReleaseRecord[] {
  return stamped(records, identity, now, (old, at) => ({
    outcome: 'verification_failed',
    reason: code,
    verification: {
      code,
      failures: old?.verification?.code === code ? old.verification.failures + 1 : 1,
      lastAt: at,
    },
  }));
}

/**
 * A release of `identity`'s version verified: every run of verification failures of that
 * version ends (the publisher fixed it; the images that failed are no longer on offer).
 */
export function withoutVerificationFailures(
  records: readonly ReleaseRecord[],
  identity: ReleaseIdentity,
): ReleaseRecord[] {
  return records.map((r) =>
    r.verification !== undefined && r.version === identity.version
      ? { ...r, verification: undefined }
      : r,
  );
}

/** Identical verification failures in a row before the device backs off. */
const BACKOFF_AFTER_FAILURES = 3;

/**
 * docs/operating.md "Back-off": after the 3rd identical failure the next try waits 6 h,
 * after the 4th 12 h, from the 5th on 24 h. Undefined: no back-off.
 */
export function backoffUntil(record: ReleaseRecord | undefined): Date | undefined {
  const v = record?.verification;
  if (v === undefined || v.failures < BACKOFF_AFTER_FAILURES) return undefined;
  const hours = [6, 12, 24][Math.min(v.failures - BACKOFF_AFTER_FAILURES, 2)]!;
  const last = Date.parse(v.lastAt);
  return Number.isNaN(last) ? undefined : new Date(last + hours * 3600_000);
}

// --- the file ---

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

const SHA256 = /^[0-9a-f]{64}$/;

function parseRecord(raw: unknown): ReleaseRecord | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  const version = str(o.version);
  const at = str(o.at);
  if (version === undefined || at === undefined) return undefined;
  const digests = ARTIFACT_NAMES.map((name) => str(o[`${name}_sha256`]));
  const images = digests.every((d) => d !== undefined && SHA256.test(d))
    ? (Object.fromEntries(ARTIFACT_NAMES.map((n, i) => [n, digests[i]!])) as SlotDigests)
    : undefined;
  const outcome = RELEASE_OUTCOMES.find((x) => x === o.outcome);
  const reason = str(o.reason);
  const qAt = str(o.quarantined_at);
  const qReason = str(o.quarantine_reason);
  const failures = o.verification_failures;
  const vCode = str(o.verification_code);
  const vAt = str(o.verification_last_at);
  return {
    version,
    ...(images ? { images } : {}),
    outcome,
    reason: reason !== undefined && isReasonCode(reason) ? reason : undefined,
    at,
    quarantined: qAt !== undefined ? { at: qAt, reason: qReason ?? 'QUARANTINED' } : undefined,
    verification:
      vCode !== undefined &&
      vAt !== undefined &&
      Number.isInteger(failures) &&
      (failures as number) > 0
        ? { code: vCode, failures: failures as number, lastAt: vAt }
        : undefined,
  };
}

/** Decode the file's text; throws RELEASES_CORRUPT. */
function parseReleases(text: string, path: string): ReleaseRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ReleasesCorruptError(path, 'is not JSON', err);
  }
  const o = doc as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || !Array.isArray(o.releases)) {
    throw new ReleasesCorruptError(path, 'is not a list of releases');
  }
  if (o.schema_version !== SCHEMA_VERSION) {
    throw new ReleasesCorruptError(
      path,
      `has unknown schema_version ${JSON.stringify(o.schema_version)}`,
    );
  }
  const records: ReleaseRecord[] = [];
  for (const raw of o.releases.slice(-MAX_RELEASE_RECORDS)) {
    const r = parseRecord(raw);
    if (r === undefined)
      throw new ReleasesCorruptError(path, 'holds a record that is not a release');
    records.push(r);
  }
  return records;
}

function toFile(records: readonly ReleaseRecord[]): string {
  const releases = records.map((r) => ({
    version: r.version,
    ...Object.fromEntries(ARTIFACT_NAMES.map((n) => [`${n}_sha256`, r.images?.[n]])),
    outcome: r.outcome,
    reason: r.reason,
    at: r.at,
    quarantined_at: r.quarantined?.at,
    quarantine_reason: r.quarantined?.reason,
    verification_code: r.verification?.code,
    verification_failures: r.verification?.failures,
    verification_last_at: r.verification?.lastAt,
  }));
  return JSON.stringify({ schema_version: SCHEMA_VERSION, releases }, null, 2) + '\n';
}

export interface ReleaseStore {
  readonly path: string;
  /** The records; throws RELEASES_CORRUPT when the file cannot be read. */
  read(): Promise<ReleaseRecord[]>;
  /**
   * Read, change and write back atomically (callers hold the run lock). A corrupt file
   * is moved aside (`releases.json.corrupt-<time>`) and the change applies to an empty
   * list: what it held is lost, never the device's ability to update.
   */
  update(change: (records: ReleaseRecord[]) => ReleaseRecord[]): Promise<ReleaseRecord[]>;
}

export function createReleaseStore(path: string, now: () => Date, log: Logger): ReleaseStore {
  async function read(): Promise<ReleaseRecord[]> {
    let text: string;
    try {
      text = await readControlText(path, { maxBytes: MAX_BYTES, noFollow: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw new ReleasesCorruptError(
        path,
        `cannot be read (${errnoCode(err) ?? (err as Error).message})`,
        err,
      );
    }
    return parseReleases(text, path);
  }
  return {
    path,
    read,
    async update(change) {
      let records: ReleaseRecord[];
      try {
        records = await read();
      } catch (err) {
        if (!(err instanceof ReleasesCorruptError)) throw err;
        const stamp = now().toISOString().replace(/[:.]/g, '-');
        const corruptPath = `${path}.corrupt-${stamp}`;
        await rename(path, corruptPath).catch(() => undefined);
        log.warn('the release records are corrupt; moved aside, starting a new list', {
          code: err.code,
          path,
          corruptPath,
        });
        records = [];
      }
      const next = change(records);
      try {
        await atomicWriteFile(path, toFile(next), { mkdirp: true });
      } catch (err) {
        throw ioError('RELEASES_WRITE_FAILED', `cannot write ${path}`, err, { path });
      }
      return next;
    },
  };
}
