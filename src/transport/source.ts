/**
 * Where updates come from: an HTTP server with latest.json, or an OCI registry.
 * Both apply the same trust policy (DESIGN §3.4) before handing anything to the
 * lifecycle, so the agent's gates and state machine do not care which one is used.
 */
import type { ReleaseMetadata } from '../metadata/types.js';
import type { DownloadOptions, DownloadResult } from './download.js';

export type ArtifactName = 'vmlinuz' | 'initramfs';

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

export interface StageOptions {
  /** Directory for partial and finished downloads; partial files there may be resumed. */
  stagingDir: string;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface StagedArtifact {
  artifact: ArtifactName;
  /** Complete, hash-verified file in the staging directory. */
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

/** downloadToFile's cancellation and progress options for one artifact of a stage() call. */
export function stageDownloadOptions(
  artifact: ArtifactName,
  options: StageOptions,
): Pick<DownloadOptions, 'signal' | 'onProgress'> {
  const { signal, onProgress } = options;
  return {
    ...(signal ? { signal } : {}),
    ...(onProgress
      ? {
          onProgress: (receivedBytes, totalBytes) =>
            onProgress({ artifact, receivedBytes, totalBytes }),
        }
      : {}),
  };
}

/** What both sources hand back after downloadToFile (the lifecycle logs it). */
export function toStagedArtifact(artifact: ArtifactName, result: DownloadResult): StagedArtifact {
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
