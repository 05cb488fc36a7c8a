/**
 * latest.json parser (docs/design.md §3.3). Everything here comes from the network and may be
 * hostile, so the parser is strict about what it uses and lenient only where the Go
 * agent is (unknown fields are ignored; an empty optional string means "absent", as
 * Go's `omitempty` would write it). Every rejection is a VerificationError (exit 4)
 * whose code names the problem and whose `details.field` names the field.
 */
import { BOARD_NAME } from '../config/board.js';
import { versionProblem } from '../config/version.js';
import { VerificationError } from '../errors.js';
import { parseRfc3339, parseRollout } from '../fleet/rollout.js';
import { perImage, type ArtifactName } from './images.js';
import {
  imageWireFields,
  type ImageIndexRef,
  type LatestJson,
  type ReleaseImage,
  type ReleaseMetadata,
} from './model.js';

/** docs/design.md §3.3: metadata larger than this is refused. */
export const MAX_METADATA_BYTES = 64 * 1024;

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** Short identifiers (channel, architecture, min version): printable, no spaces. */
const TOKEN = /^[\x21-\x7e]{1,128}$/;
/** At most this many board names: the list is read from untrusted-size metadata. */
const MAX_COMPATIBLE = 64;

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
 * The one version rule (src/config/version.ts): the gates order versions with it, so a
 * version they cannot order is refused here, when the metadata is read, and
 * `kubesolo-release publish`/`verify` (which run this parser) refuse what a device would.
 */
function deviceVersion(value: string, field: Field): string {
  const problem = versionProblem(value);
  if (problem !== undefined) {
    throw new VerificationError(
      'INVALID_VERSION',
      `latest.json: ${field} ${JSON.stringify(value.slice(0, 64))} is not a version a device can order: ${problem}`,
      { details: { field, value: value.slice(0, 64) } },
    );
  }
  return value;
}

/** `compatible`: a non-empty list of board names, each once. */
function boards(obj: Json, field: Field): string[] | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_COMPATIBLE) {
    throw fieldError(field, `must be a list of 1 to ${MAX_COMPATIBLE} board names`, value);
  }
  for (const board of value) {
    if (typeof board !== 'string' || !BOARD_NAME.test(board)) {
      throw fieldError(field, 'holds a board name with characters or a length not allowed', board);
    }
  }
  return [...new Set(value as string[])];
}

/** `paused`: true or false (absent: false). */
function flag(obj: Json, field: Field): boolean | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw fieldError(field, 'must be true or false', value);
  return value;
}

/** One image's fields (`<prefix>_url`, ...; ./model.ts imageWireFields). */
function image(obj: Json, name: ArtifactName, base: string): ReleaseImage {
  const f = imageWireFields(name);
  const img: ReleaseImage = {
    url: url(obj, f.url, base, true),
    sha256: sha256(obj, f.sha256),
  };
  const size_ = size(obj, f.size);
  if (size_ !== undefined) img.size = size_;
  const sig = url(obj, f.signatureUrl, base, false);
  if (sig !== undefined) img.signatureUrl = sig;
  const index = imageIndex(obj, f, base);
  if (index !== undefined) img.index = index;
  return img;
}

/** An image's delta index: all three fields or none (it is pinned like the image). */
function imageIndex(
  obj: Json,
  f: ReturnType<typeof imageWireFields>,
  base: string,
): ImageIndexRef | undefined {
  const at = url(obj, f.indexUrl, base, false);
  const given = [obj[f.indexUrl], obj[f.indexSha256], obj[f.indexSize]].some(
    (v) => v !== undefined && v !== null && v !== '',
  );
  if (!given) return undefined;
  const indexSize = size(obj, f.indexSize);
  if (at === undefined || indexSize === undefined) {
    throw new VerificationError(
      'METADATA_FIELD_MISSING',
      `latest.json: ${f.indexUrl}, ${f.indexSha256} and ${f.indexSize} go together`,
      { details: { field: at === undefined ? f.indexUrl : f.indexSize } },
    );
  }
  return { url: at, sha256: sha256(obj, f.indexSha256), size: indexSize };
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

  const metadata: ReleaseMetadata = {
    version: deviceVersion(requiredString(obj, 'version'), 'version'),
    images: perImage((name) => image(obj, name, metadataUrl)),
  };
  const minCompatibleVersion = token(obj, 'min_compatible_version');
  const minVersion = token(obj, 'min_version');
  const optional: Partial<ReleaseMetadata> = {
    metadataSigUrl: url(obj, 'metadata_sig_url', metadataUrl, false),
    releaseNotes: optionalString(obj, 'release_notes'),
    releaseDate: optionalString(obj, 'release_date'),
    channel: token(obj, 'channel'),
    minCompatibleVersion:
      minCompatibleVersion && deviceVersion(minCompatibleVersion, 'min_compatible_version'),
    architecture: token(obj, 'architecture'),
    compatible: boards(obj, 'compatible'),
    expires: optionalString(obj, 'expires'),
    minVersion: minVersion && deviceVersion(minVersion, 'min_version'),
    rollout:
      obj.rollout === undefined || obj.rollout === null ? undefined : parseRollout(obj.rollout),
    // Only a pause is kept: `paused: false` is the same release as no field at all.
    paused: flag(obj, 'paused') === true ? true : undefined,
  };
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
        `latest.json expired at ${metadata.expires} (this device's clock says ${now.toISOString()}): ` +
          'republish with --expires-in, or check the device clock',
        { details: { field: 'expires', expires: metadata.expires, now: now.toISOString() } },
      );
    }
  }
  return metadata;
}
