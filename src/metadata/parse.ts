/**
 * latest.json parser (docs/design.md §3.3). Everything here comes from the network and may be
 * hostile, so the parser is strict about what it uses and lenient only where the Go
 * agent is (unknown fields are ignored; an empty optional string means "absent", as
 * Go's `omitempty` would write it). Every rejection is a VerificationError (exit 4)
 * whose code names the problem and whose `details.field` names the field.
 */
import { parseVersion } from '../config/version.js';
import { VerificationError } from '../errors.js';
import { parseRfc3339, parseRollout } from '../fleet/rollout.js';
import type { LatestJson, ReleaseMetadata } from './model.js';

/** docs/design.md §3.3: metadata larger than this is refused. */
export const MAX_METADATA_BYTES = 64 * 1024;

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** Versions end up in slot `version` files and log lines: keep them to a safe charset. */
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/;
/** Short identifiers (channel, architecture, min version): printable, no spaces. */
const TOKEN = /^[\x21-\x7e]{1,128}$/;

type Json = Record<string, unknown>;
/** The parser reads only fields of the model (./model.ts). */
type Field = keyof LatestJson;

function fieldError(field: Field, message: string, value?: unknown): VerificationError {
  const shown = typeof value === 'string' && value.length > 200 ? value.slice(0, 200) + '…' : value;
  return new VerificationError('METADATA_FIELD_INVALID', `latest.json: ${field} ${message}`, {
    details: { field, ...(value === undefined ? {} : { value: shown }) },
  });
}

function optionalString(obj: Json, field: Field): string | undefined {
  const value = obj[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw fieldError(field, 'must be a string', value);
  return value;
}

function requiredString(obj: Json, field: Field): string {
  const value = optionalString(obj, field);
  if (value === undefined) {
    throw new VerificationError('METADATA_FIELD_MISSING', `latest.json: ${field} is required`, {
      details: { field },
    });
  }
  return value;
}

/**
 * Resolve a URL field against the metadata URL (relative URLs are allowed, §3.3) and
 * accept only http:/https: without embedded credentials: credentials in metadata
 * would leak to logs, and other schemes (file:, data:, ...) must never be fetched.
 */
function url(obj: Json, field: Field, base: string, required: true): string;
function url(obj: Json, field: Field, base: string, required: false): string | undefined;
function url(obj: Json, field: Field, base: string, required: boolean): string | undefined {
  const raw = required ? requiredString(obj, field) : optionalString(obj, field);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw, base);
  } catch {
    throw fieldError(field, 'is not a valid URL', raw);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw fieldError(field, 'must be an http: or https: URL', raw);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw fieldError(field, 'must not contain credentials', '(redacted)');
  }
  return parsed.href;
}

function sha256(obj: Json, field: Field): string {
  const value = requiredString(obj, field);
  if (!SHA256_HEX.test(value)) throw fieldError(field, 'must be 64 hex characters', value);
  return value.toLowerCase();
}

function size(obj: Json, field: Field): number | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw fieldError(field, 'must be a positive integer (bytes)', value);
  }
  return value;
}

function token(obj: Json, field: Field, pattern: RegExp = TOKEN): string | undefined {
  const value = optionalString(obj, field);
  if (value !== undefined && !pattern.test(value)) {
    throw fieldError(field, 'has characters or a length that is not allowed', value);
  }
  return value;
}

/**
 * The gates order versions with parseVersion: a version they cannot order is refused
 * here, when the metadata is read, so `kubesolo-release publish`/`verify` (which run
 * this parser) refuse exactly what a device would.
 */
function deviceVersion(value: string, field: Field): void {
  try {
    parseVersion(value);
  } catch (err) {
    throw new VerificationError(
      'INVALID_VERSION',
      `latest.json: ${field} ${JSON.stringify(value.slice(0, 64))} is not a version a device can order: expected [v]MAJOR.MINOR.PATCH[-pre][+build]`,
      { cause: err, details: { field, value: value.slice(0, 64) } },
    );
  }
}

function decodeJson(bytes: Uint8Array): Json {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (err) {
    throw new VerificationError('METADATA_MALFORMED', 'latest.json is not valid UTF-8', {
      cause: err,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new VerificationError('METADATA_MALFORMED', 'latest.json is not valid JSON', {
      cause: err,
      details: { reason: err instanceof Error ? err.message : String(err) },
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VerificationError('METADATA_MALFORMED', 'latest.json must be a JSON object');
  }
  return value as Json;
}

/**
 * Parse and validate latest.json bytes fetched from `metadataUrl`. `now` is compared
 * with `expires` (docs/design.md §3.3: stale metadata is refused, METADATA_EXPIRED).
 */
export function parseReleaseMetadata(
  bytes: Uint8Array,
  metadataUrl: string,
  now: Date = new Date(),
): ReleaseMetadata {
  if (bytes.length > MAX_METADATA_BYTES) {
    throw new VerificationError(
      'METADATA_TOO_LARGE',
      `latest.json is larger than ${MAX_METADATA_BYTES} bytes`,
      { details: { limit: MAX_METADATA_BYTES, size: bytes.length } },
    );
  }
  const obj = decodeJson(bytes);

  const version = requiredString(obj, 'version');
  if (!VERSION.test(version)) throw fieldError('version', 'is not a valid version', version);
  deviceVersion(version, 'version');

  const metadata: ReleaseMetadata = {
    version,
    vmlinuzUrl: url(obj, 'vmlinuz_url', metadataUrl, true),
    vmlinuzSha256: sha256(obj, 'vmlinuz_sha256'),
    initramfsUrl: url(obj, 'initramfs_url', metadataUrl, true),
    initramfsSha256: sha256(obj, 'initramfs_sha256'),
  };
  const optional: Partial<ReleaseMetadata> = {
    vmlinuzSigUrl: url(obj, 'vmlinuz_sig_url', metadataUrl, false),
    vmlinuzSize: size(obj, 'vmlinuz_size'),
    initramfsSigUrl: url(obj, 'initramfs_sig_url', metadataUrl, false),
    initramfsSize: size(obj, 'initramfs_size'),
    metadataSigUrl: url(obj, 'metadata_sig_url', metadataUrl, false),
    releaseNotes: optionalString(obj, 'release_notes'),
    releaseDate: optionalString(obj, 'release_date'),
    channel: token(obj, 'channel'),
    minCompatibleVersion: token(obj, 'min_compatible_version'),
    architecture: token(obj, 'architecture'),
    expires: optionalString(obj, 'expires'),
    minVersion: token(obj, 'min_version'),
    rollout:
      obj.rollout === undefined || obj.rollout === null ? undefined : parseRollout(obj.rollout),
  };
  if (optional.minCompatibleVersion !== undefined) {
    deviceVersion(optional.minCompatibleVersion, 'min_compatible_version');
  }
  if (optional.minVersion !== undefined) deviceVersion(optional.minVersion, 'min_version');
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) Object.assign(metadata, { [key]: value });
  }

  if (metadata.expires !== undefined) {
    const at = parseRfc3339(metadata.expires);
    if (Number.isNaN(at)) {
      throw fieldError('expires', 'must be an RFC 3339 date-time', metadata.expires);
    }
    if (at <= now.getTime()) {
      throw new VerificationError(
        'METADATA_EXPIRED',
        `latest.json expired at ${metadata.expires}`,
        { details: { field: 'expires', expires: metadata.expires, now: now.toISOString() } },
      );
    }
  }
  return metadata;
}
