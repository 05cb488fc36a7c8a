/**
 * Where updates come from: an HTTP server with latest.json, or an OCI registry.
 * Both apply the same trust policy (docs/design.md §3.4) before handing anything to the
 * lifecycle, so the agent's gates and state machine do not care which one is used.
 */
import { join } from 'node:path';
import { KubesoloError } from '../errors.js';
import type { ReleaseMetadata } from '../metadata/types.js';
import { downloadToFile, type DownloadOptions } from './download.js';

export type ArtifactName = 'vmlinuz' | 'initramfs';

/** On-disk names of the staged artifacts (docs/design.md §1: the slot's file names). */
export const ARTIFACT_FILES: Record<ArtifactName, string> = {
  vmlinuz: 'vmlinuz',
  initramfs: 'kubesolo-os.gz',
};

export interface Release {
  metadata: ReleaseMetadata;
  /** Whether the metadata's own Ed25519 signature was verified. */
  metadataSigned: boolean;
  /** Where it came from, for logs (metadata URL or registry reference). */
  origin: string;
}

export interface ProgressEvent {
  artifact: ArtifactName;
  receivedBytes: number;
  totalBytes: number | undefined;
}

/**
 * When an image's own Ed25519 signature is checked (docs/transport.md "Trust model").
 * `when-unpinned`: only when nothing signed pins the image, i.e. the metadata is
 * unsigned (allowed by configuration) or the server signs only images. Signed metadata
 * already pins each image's SHA-256 and size, so a second check of the same bytes adds
 * a SHA-512 pass and no security. `always`: every signature that is there (publisher
 * tooling checking a release it is about to announce).
 */
export type ImageSignaturePolicy = 'when-unpinned' | 'always';

/** The one place that decides whether an image signature is checked. */
export function checksImageSignature(release: Release, policy: ImageSignaturePolicy): boolean {
  return policy === 'always' || !release.metadataSigned;
}

export interface StageOptions {
  /**
   * Directory for partial and finished downloads; partial files there may be resumed
   * and verified ones are reused. The agent passes the target slot's incoming
   * directory, so the image is written once, on the slot.
   */
  stagingDir: string;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface StagedArtifact {
  artifact: ArtifactName;
  /** Complete, verified file in the download directory. */
  path: string;
  sha256: string;
  size: number;
  /** Whether an Ed25519 signature over the file was verified. */
  signatureVerified: boolean;
  /** Bytes fetched over the network for this artifact in this run (resume makes it < size). */
  bytesFetched: number;
  /** Bytes of a partial file from an earlier attempt that were kept (0: a fresh download). */
  resumedFrom: number;
}

/**
 * The common tail of both sources' stage(): download one artifact into the download
 * directory under its slot file name, with the caller's cancellation and progress,
 * tag errors with the artifact (and `details`), and describe the staged file.
 */
export async function downloadArtifact(
  artifact: ArtifactName,
  stage: StageOptions,
  options: Omit<DownloadOptions, 'dest' | 'signal' | 'onProgress'>,
  details: Record<string, unknown> = {},
): Promise<StagedArtifact> {
  const { signal, onProgress } = stage;
  const result = await downloadToFile({
    ...options,
    dest: join(stage.stagingDir, ARTIFACT_FILES[artifact]),
    ...(signal ? { signal } : {}),
    ...(onProgress
      ? {
          onProgress: (receivedBytes: number, totalBytes: number | undefined) =>
            onProgress({ artifact, receivedBytes, totalBytes }),
        }
      : {}),
  }).catch((err: unknown) => {
    if (err instanceof KubesoloError) {
      for (const [key, value] of Object.entries({ artifact, ...details })) {
        err.details[key] ??= value;
      }
    }
    throw err;
  });
  return {
    artifact,
    path: result.path,
    sha256: result.sha256,
    size: result.size,
    signatureVerified: result.signatureVerified,
    bytesFetched: result.bytesFetched,
    resumedFrom: result.resumedFrom,
  };
}

export interface UpdateSource {
  /**
   * Fetch and authenticate the release description. Throws VerificationError
   * (exit 4) for malformed, oversized, expired or badly signed metadata.
   */
  fetchRelease(signal?: AbortSignal): Promise<Release>;
  /**
   * Download one artifact into the staging directory, verifying size, SHA-256 and
   * (when required or present) its signature. Resumes a partial file when it can.
   */
  stage(release: Release, artifact: ArtifactName, options: StageOptions): Promise<StagedArtifact>;
}
