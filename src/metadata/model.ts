/**
 * The latest.json model (docs/design.md §3.3, docs/formats.md): `LatestJson` is the
 * document on the wire, what `kubesolo-release publish` and `push` write (built by
 * `latestJsonOf`, serialized by `serializeLatestJson`) and what the device's parser
 * (./parse.ts, which reads only fields named here) reads; `ReleaseMetadata` is the
 * parsed, validated form the agent uses. `WIRE_FIELD` ties the two together field by
 * field (test/metadata/model.test.ts round-trips every field). The images of a
 * release come from one table (./images.ts).
 */

import type { RolloutJson, RolloutSchedule } from '../fleet/rollout.js';
import { rolloutJson } from '../fleet/rollout.js';
import { ARTIFACT_NAMES, IMAGE_KINDS, type ArtifactName } from './images.js';

/** The metadata's file name: what a server URL naming a directory resolves to (./url.ts). */
export const METADATA_FILE = 'latest.json';

/**
 * An image's delta index (docs/delta.md): fetched and checked like an image, pinned by
 * the metadata's SHA-256 and size.
 */
export interface ImageIndexRef {
  url: string;
  sha256: string;
  size: number;
}

/** One image of a release, as latest.json describes it. */
export interface ReleaseImage {
  /** Absolute after parsing (relative URLs are resolved against the metadata URL). */
  url: string;
  /** 64 lowercase hex characters. */
  sha256: string;
  /** Bytes: a hard cut-off for the download. */
  size?: number;
  /** The image's own detached signature. */
  signatureUrl?: string;
  index?: ImageIndexRef;
}

/** latest.json as the agent uses it, after parsing and validation. */
export interface ReleaseMetadata {
  version: string;
  /** Every image of the release, by artifact name (./images.ts). */
  images: Record<ArtifactName, ReleaseImage>;
  metadataSigUrl?: string;
  releaseNotes?: string;
  releaseDate?: string;
  channel?: string;
  minCompatibleVersion?: string;
  /** Go architecture name: amd64, arm64, ... */
  architecture?: string;
  /** Board names the release is built for (docs/operating.md "Board compatibility"). */
  compatible?: string[];
  /** RFC 3339; metadata past it is refused. */
  expires?: string;
  /** Staged rollout (src/fleet/rollout.ts); absent: every device at once. */
  rollout?: RolloutSchedule;
  /** Raises the anti-rollback floor when the metadata is signed (src/stores/floor.ts). */
  minVersion?: string;
  /** The publisher stopped the rollout (`publish --pause`): devices do not start it. */
  paused?: boolean;
}

/**
 * An image's fields on the wire, `<prefix>_...`: the Go agent's `_url`, `_sha256`,
 * `_sig_url` and `_size`, and beside them the delta index (`_index_url`,
 * `_index_sha256`, `_index_size`), which older agents ignore.
 */
type ImageWire<P extends string> = { [K in `${P}_url` | `${P}_sha256`]: string } & {
  [K in `${P}_sig_url` | `${P}_index_url` | `${P}_index_sha256`]?: string;
} & { [K in `${P}_size` | `${P}_index_size`]?: number };

/** The release-wide fields of latest.json, snake_case as on the wire. */
interface ReleaseWire {
  version: string;
  /** Where the metadata's signature is (default `<metadata URL>.sig`). */
  metadata_sig_url?: string;
  release_notes?: string;
  /** RFC 3339. */
  release_date?: string;
  channel?: string;
  min_compatible_version?: string;
  /** Go architecture name. */
  architecture?: string;
  /** Board names; a device whose board is not listed refuses the release. */
  compatible?: string[];
  /** RFC 3339; devices refuse the metadata from then on. */
  expires?: string;
  /** Waves: `{ start, waves: [{ percent, after }] }` (docs/formats.md "rollout"). */
  rollout?: RolloutJson;
  /** Every device's anti-rollback floor rises to it (signed metadata only). */
  min_version?: string;
  /** true: the rollout is paused; devices that have not started it do not (docs/publishing.md). */
  paused?: boolean;
}

/** latest.json as written. Unknown fields are ignored by devices. */
export type LatestJson = ReleaseWire &
  ImageWire<(typeof IMAGE_KINDS)['vmlinuz']['wire']> &
  ImageWire<(typeof IMAGE_KINDS)['initramfs']['wire']>;

/** Each release-wide parsed field and the wire field it comes from. */
export const WIRE_FIELD = {
  version: 'version',
  metadataSigUrl: 'metadata_sig_url',
  releaseNotes: 'release_notes',
  releaseDate: 'release_date',
  channel: 'channel',
  minCompatibleVersion: 'min_compatible_version',
  architecture: 'architecture',
  compatible: 'compatible',
  expires: 'expires',
  rollout: 'rollout',
  minVersion: 'min_version',
  paused: 'paused',
} as const satisfies Record<Exclude<keyof ReleaseMetadata, 'images'>, keyof ReleaseWire>;

/** The wire names of one image's fields. */
export function imageWireFields(name: ArtifactName) {
  const p = IMAGE_KINDS[name].wire;
  return {
    url: `${p}_url`,
    sha256: `${p}_sha256`,
    signatureUrl: `${p}_sig_url`,
    size: `${p}_size`,
    indexUrl: `${p}_index_url`,
    indexSha256: `${p}_index_sha256`,
    indexSize: `${p}_index_size`,
  } as const;
}

/**
 * The wire document of a release: the one builder `publish` and `push` use, the
 * inverse of the device's parser (./parse.ts; test/metadata/model.test.ts round-trips
 * it). Fields in a fixed order; absent values are left out.
 */
export function latestJsonOf(md: ReleaseMetadata): LatestJson {
  const doc: Record<string, unknown> = { version: md.version };
  for (const name of ARTIFACT_NAMES) {
    const image = md.images[name];
    const f = imageWireFields(name);
    doc[f.url] = image.url;
    doc[f.sha256] = image.sha256;
    doc[f.signatureUrl] = image.signatureUrl;
    doc[f.size] = image.size;
    doc[f.indexUrl] = image.index?.url;
    doc[f.indexSha256] = image.index?.sha256;
    doc[f.indexSize] = image.index?.size;
  }
  for (const [field, wire] of Object.entries(WIRE_FIELD)) {
    if (field === 'version') continue;
    const value = md[field as keyof typeof WIRE_FIELD];
    doc[wire] = field === 'rollout' && md.rollout ? rolloutJson(md.rollout) : value;
  }
  for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
  return doc as unknown as LatestJson;
}

/**
 * latest.json's bytes: two-space indented JSON with a final newline, fields in the
 * order the document has them. These bytes are what is signed and served as they are
 * (docs/design.md §3.4: the signature covers the exact bytes).
 */
export function serializeLatestJson(doc: LatestJson): Buffer {
  return Buffer.from(JSON.stringify(doc, null, 2) + '\n');
}
