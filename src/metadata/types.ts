/** The two images of a release, in the order they are staged. */
export const ARTIFACT_NAMES = ['vmlinuz', 'initramfs'] as const;
export type ArtifactName = (typeof ARTIFACT_NAMES)[number];

/** latest.json as the agent uses it (docs/design.md §3.3), after parsing and validation. */
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
}
