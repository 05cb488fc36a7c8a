/**
 * The latest.json model (docs/design.md §3.3, docs/formats.md): `LatestJson` is the
 * document on the wire, what `kubesolo-release publish` and `push` write (through
 * `serializeLatestJson`, the one serializer) and what the device's parser
 * (./parse.ts, which reads only fields named here) reads; `ReleaseMetadata` is the
 * parsed, validated form the agent uses. `WIRE_FIELD` ties the two together field by
 * field (test/metadata/model.test.ts round-trips every field).
 */

import type { RolloutJson, RolloutSchedule } from '../fleet/rollout.js';

/** The two images of a release, in the order they are staged. */
export const ARTIFACT_NAMES = ['vmlinuz', 'initramfs'] as const;
export type ArtifactName = (typeof ARTIFACT_NAMES)[number];

/** The metadata's file name: what a server URL naming a directory resolves to (./url.ts). */
export const METADATA_FILE = 'latest.json';

/** latest.json as the agent uses it, after parsing and validation. */
export interface ReleaseMetadata {
  version: string;
  /** Absolute URLs (relative ones are resolved against the metadata URL when parsing). */
  vmlinuzUrl: string;
  vmlinuzSha256: string;
  vmlinuzSigUrl?: string;
  vmlinuzSize?: number;
  initramfsUrl: string;
  initramfsSha256: string;
  initramfsSigUrl?: string;
  initramfsSize?: number;
  metadataSigUrl?: string;
  releaseNotes?: string;
  releaseDate?: string;
  channel?: string;
  minCompatibleVersion?: string;
  /** Go architecture name: amd64, arm64, ... */
  architecture?: string;
  /** RFC 3339; metadata past it is refused. */
  expires?: string;
  /** Staged rollout (src/fleet/rollout.ts); absent: every device at once. */
  rollout?: RolloutSchedule;
  /** Raises the anti-rollback floor when the metadata is signed (src/agent/floor.ts). */
  minVersion?: string;
}

/** latest.json as written, snake_case as on the wire. Unknown fields are ignored by devices. */
export interface LatestJson {
  version: string;
  /** Absolute, or relative to latest.json's own URL. */
  vmlinuz_url: string;
  /** 64 hex characters. */
  vmlinuz_sha256: string;
  vmlinuz_sig_url?: string;
  /** Bytes: a hard cut-off for the download. */
  vmlinuz_size?: number;
  initramfs_url: string;
  initramfs_sha256: string;
  initramfs_sig_url?: string;
  initramfs_size?: number;
  /** Where the metadata's signature is (default `<metadata URL>.sig`). */
  metadata_sig_url?: string;
  release_notes?: string;
  /** RFC 3339. */
  release_date?: string;
  channel?: string;
  min_compatible_version?: string;
  /** Go architecture name. */
  architecture?: string;
  /** RFC 3339; devices refuse the metadata from then on. */
  expires?: string;
  /** Waves: `{ start, waves: [{ percent, after }] }` (docs/formats.md "rollout"). */
  rollout?: RolloutJson;
  /** Every device's anti-rollback floor rises to it (signed metadata only). */
  min_version?: string;
}

/** Each parsed field and the wire field it comes from. */
export const WIRE_FIELD = {
  version: 'version',
  vmlinuzUrl: 'vmlinuz_url',
  vmlinuzSha256: 'vmlinuz_sha256',
  vmlinuzSigUrl: 'vmlinuz_sig_url',
  vmlinuzSize: 'vmlinuz_size',
  initramfsUrl: 'initramfs_url',
  initramfsSha256: 'initramfs_sha256',
  initramfsSigUrl: 'initramfs_sig_url',
  initramfsSize: 'initramfs_size',
  metadataSigUrl: 'metadata_sig_url',
  releaseNotes: 'release_notes',
  releaseDate: 'release_date',
  channel: 'channel',
  minCompatibleVersion: 'min_compatible_version',
  architecture: 'architecture',
  expires: 'expires',
  rollout: 'rollout',
  minVersion: 'min_version',
} as const satisfies Record<keyof ReleaseMetadata, keyof LatestJson>;

/**
 * latest.json's bytes: two-space indented JSON with a final newline, fields in the
 * order the document has them. These bytes are what is signed and served as they are
 * (docs/design.md §3.4: the signature covers the exact bytes).
 */
export function serializeLatestJson(doc: LatestJson): Buffer {
  return Buffer.from(JSON.stringify(doc, null, 2) + '\n');
}
