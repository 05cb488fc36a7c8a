/**
 * The one version rule (docs/formats.md "Versions"), compatible with the KubeSolo OS Go
 * agent: three numeric components `MAJOR.MINOR.PATCH`, an optional leading `v`, and an
 * optional pre-release (`-rc1`) and/or build (`+meta`) suffix that is kept for display
 * but IGNORED for ordering (so `v1.2.0-rc1` and `v1.2.0` compare equal, as in the Go
 * agent); at most 128 characters, nothing around it (a caller reading a file trims its
 * line end first). latest.json, `publish`, the slot `version` file, the anti-rollback
 * floor and `dev init-root` all go by it (test/config/version.test.ts records how the
 * three rules it replaced judged the same inputs).
 *
 * A malformed version is a VerificationError INVALID_VERSION (exit 4): never silently
 * read as 0.0.0, which would make every gate pass.
 */
import { VerificationError } from '../errors.js';

export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Text after `-`, without it (e.g. `rc1`); not used for ordering. */
  readonly prerelease?: string;
  /** Text after `+`, without it; not used for ordering. */
  readonly build?: string;
  /** The input as given. */
  readonly raw: string;
}

/** A version names a slot file's line, a folder and a URL path segment: keep it short. */
const MAX_VERSION_LENGTH = 128;

// Numeric parts are plain digit runs (the Go agent reads them with strconv.Atoi, which
// accepts leading zeros); suffix identifiers use the SemVer 2.0.0 §9/§10 character set.
const VERSION_RE =
  /^v?(\d{1,15})\.(\d{1,15})\.(\d{1,15})(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/;

/** Why `text` is not a version, or undefined when it is one. */
export function versionProblem(text: string): string | undefined {
  if (text.length > MAX_VERSION_LENGTH) return `longer than ${MAX_VERSION_LENGTH} characters`;
  if (!VERSION_RE.test(text)) return 'expected [v]MAJOR.MINOR.PATCH[-pre][+build]';
  return undefined;
}

export function parseVersion(text: string): Version {
  const problem = versionProblem(text);
  const m = problem === undefined ? VERSION_RE.exec(text) : null;
  if (!m) {
    throw new VerificationError(
      'INVALID_VERSION',
      `invalid version ${JSON.stringify(text.slice(0, 64))}: ${problem ?? 'not a version'}`,
      { details: { version: text.slice(0, 64) } },
    );
  }
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3]),
    ...(m[4] === undefined ? {} : { prerelease: m[4] }),
    ...(m[5] === undefined ? {} : { build: m[5] }),
    raw: text,
  };
}

function cmp(a: number, b: number): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Order two versions (strings are parsed, and may throw INVALID_VERSION). */
export function compareVersions(a: string | Version, b: string | Version): -1 | 0 | 1 {
  const va = typeof a === 'string' ? parseVersion(a) : a;
  const vb = typeof b === 'string' ? parseVersion(b) : b;
  return cmp(va.major, vb.major) || cmp(va.minor, vb.minor) || cmp(va.patch, vb.patch);
}

/** Each of MINOR and PATCH gets this many values in `versionNumber`. */
const COMPONENT_RANGE = 100_000;
/** MAJOR stays below this so the number is an exact float64 integer (< 2^53). */
const MAJOR_RANGE = 900_000;

/**
 * The version as one number with the same order as `compareVersions`
 * (MAJOR·10¹⁰ + MINOR·10⁵ + PATCH, suffixes ignored), so PromQL can compare versions
 * across a fleet. Undefined for text that is not a version or components too large to
 * encode exactly (MINOR or PATCH ≥ 100000, MAJOR ≥ 900000).
 */
export function versionNumber(text: string): number | undefined {
  let v: Version;
  try {
    v = parseVersion(text);
  } catch {
    return undefined;
  }
  if (v.major >= MAJOR_RANGE || v.minor >= COMPONENT_RANGE || v.patch >= COMPONENT_RANGE) {
    return undefined;
  }
  return (v.major * COMPONENT_RANGE + v.minor) * COMPONENT_RANGE + v.patch;
}
