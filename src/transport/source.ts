/**
 * Where updates come from: an HTTP server with latest.json, or an OCI registry.
 * Both apply the same trust policy (docs/design.md §3.4) before handing anything to the
 * lifecycle, so the agent's gates and state machine do not care which one is used.
 */
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { decodeSignatureHex, keyFingerprint, publicKeyBytes } from '../crypto/keys.js';
import { KubesoloError } from '../errors.js';
import { imageFile, perImage, type ArtifactName } from '../metadata/images.js';
import type { ImageIndexRef, ReleaseMetadata } from '../metadata/model.js';
import type { DeltaOptions, DeltaReport, DeltaStaged } from './delta/stage.js';
import type { DownloadEstimate } from './delta/estimate.js';
import type { Logger } from '../log.js';
import {
  decideImageTrust,
  decideTrust,
  firstArtifactRefusal,
  type ImageSignaturePolicy,
  type MetadataTrust,
  type TrustConfig,
  type TrustEvidence,
} from '../trust/decide.js';
import { assertKeyConfigured, trustRefusalError } from '../trust/refusal.js';
import type { ReadBack } from '../fs/read-back.js';
import { createDispatcher } from './dispatcher.js';
import { downloadToFile } from './download/download.js';
import {
  DEFAULT_DOWNLOAD_LIMITS,
  type DownloadLimits,
  type DownloadOptions,
  type DownloadResult,
} from './download/transfer.js';

export type { ImageSignaturePolicy };

export interface TransportLimits extends DownloadLimits {
  /** TCP + TLS connect timeout (ms). */
  connectTimeoutMs: number;
}

/** How a source reaches its server: the same for HTTP and OCI. */
export interface SourceConnection {
  limits: TransportLimits;
  /** One dispatcher (ca_file, proxies, connect timeout) for every request of the source. */
  dispatcher: Dispatcher;
  /** Close idle connections, when the dispatcher is the source's own. */
  close: () => Promise<void>;
}

export function openSourceConnection(options: {
  limits?: Partial<TransportLimits> | undefined;
  /** Use this dispatcher instead of creating one (tests, sharing a pool). */
  dispatcher?: Dispatcher | undefined;
  caFile?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}): SourceConnection {
  const limits: TransportLimits = {
    ...DEFAULT_DOWNLOAD_LIMITS,
    connectTimeoutMs: 30_000,
    ...(options.limits ?? {}),
  };
  const given = options.dispatcher;
  const dispatcher =
    given ??
    createDispatcher({
      connectTimeoutMs: limits.connectTimeoutMs,
      ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
  return {
    limits,
    dispatcher,
    close: async () => {
      if (given === undefined) await dispatcher.close();
    },
  };
}

/** How a source is told which keys it trusts: one key, a key set, or both. */
export interface TrustedKeyOptions {
  /** One Ed25519 public key. */
  publicKey?: KeyObject | Uint8Array | undefined;
  /** A key set (src/crypto/key-set.ts): any one of them may sign. */
  publicKeys?: readonly Uint8Array[] | undefined;
}

/** How a source is told what to trust: keys, and what may be accepted unsigned. */
export interface TrustOptions extends TrustedKeyOptions {
  /** `allow_unsigned_metadata`: accept unsigned metadata when every image is signed. */
  allowUnsignedMetadata?: boolean | undefined;
  /** `allow_unsigned`: with no key, accept what nothing authenticates (labs). Default false. */
  allowUnsigned?: boolean | undefined;
}

/**
 * A source's trust configuration from its options: a key set (any one may sign), or
 * none. Refuses at once when no key is configured and that is not allowed
 * (PUBKEY_REQUIRED, before anything is fetched).
 */
export function trustConfigFor(
  options: TrustOptions,
  imageSignatures: ImageSignaturePolicy,
): TrustConfig {
  const config: TrustConfig = {
    keys: [
      ...(options.publicKeys ?? []).map((k) => publicKeyBytes(k)),
      ...(options.publicKey === undefined ? [] : [publicKeyBytes(options.publicKey)]),
    ],
    allowUnsignedMetadata: options.allowUnsignedMetadata === true,
    allowUnsigned: options.allowUnsigned === true,
    imageSignatures,
  };
  assertKeyConfigured(config);
  return config;
}

/** How the metadata is signed, as a Release says it: signed or not, and by which key. */
function releaseSigner(
  metadata: MetadataTrust,
): Pick<Release, 'metadataSigned' | 'metadataSignedBy'> {
  return metadata.kind === 'signed'
    ? { metadataSigned: true, metadataSignedBy: keyFingerprint(metadata.key) }
    : { metadataSigned: false };
}

/** A release as a source fetched it, before trust is decided. */
export type FetchedRelease = Omit<Release, 'metadataSigned' | 'metadataSignedBy'>;

/**
 * The step both sources take once they have fetched the evidence (a source only
 * fetches bytes): decide (src/trust/decide.ts), refuse what is not trusted (a release
 * as a whole, before any image is downloaded, so `check` already says so), and say
 * aloud what is accepted unauthenticated. `origin` names the release in refusals and
 * logs; an image is signed where its artifact carries a signature.
 */
export function trustFetchedRelease(
  config: TrustConfig,
  fetched: FetchedRelease,
  log: Logger,
): Release {
  const { origin } = fetched;
  const decision = decideTrust(config, {
    metadata: fetched.signedMetadata,
    imageSigned: perImage((name) => fetched.artifacts[name].signature !== undefined),
  });
  if (!decision.trusted) throw trustRefusalError(decision.refusal, origin);
  const imageRefusal = firstArtifactRefusal(decision.artifacts);
  if (imageRefusal !== undefined) throw trustRefusalError(imageRefusal, origin);
  if (decision.metadata.kind === 'no-key') {
    // Only with allow_unsigned=true: a lab, said at every check.
    log.warn('no public key configured: images are checked by SHA-256 only, not authenticated', {
      origin,
    });
  } else if (decision.metadata.kind === 'unsigned-allowed') {
    log.warn(
      'the metadata is unsigned; allowed by allow_unsigned_metadata, so every image signature is required',
      { origin },
    );
  }
  return { ...fetched, ...releaseSigner(decision.metadata) };
}

/** How a release's metadata is signed, as its log lines say it. */
export function signerLogFields(release: Release): { signed: boolean; key?: string } {
  return {
    signed: release.metadataSigned,
    ...(release.metadataSignedBy ? { key: release.metadataSignedBy } : {}),
  };
}

/** One image of a release: everything needed to fetch it and to trust it. */
export interface ReleaseArtifact {
  /** Where the bytes are: the metadata's URL, or the registry's blob URL. */
  url: string;
  sha256: string;
  /** Exact size when the metadata (or the OCI descriptor) gives one. */
  size?: number;
  /**
   * The image's own detached signature, if it has one: where to fetch it (HTTP,
   * `*_sig_url`) or the signature itself (OCI, a hex annotation on the layer).
   */
  signature?: { url: string } | { hex: string };
  /** The image's delta index, pinned like the image (docs/delta.md). */
  index?: ImageIndexRef;
}

export interface Release {
  metadata: ReleaseMetadata;
  /** Whether the metadata's own Ed25519 signature was verified. */
  metadataSigned: boolean;
  /** The fingerprint of the configured key that signed the metadata (when signed). */
  metadataSignedBy?: string;
  /** Where it came from, for logs (metadata URL or registry reference). */
  origin: string;
  /**
   * latest.json exactly as served and the signature found for it: what decides whether
   * the metadata pins each image (src/trust/decide.ts), again at every stage().
   */
  signedMetadata: TrustEvidence['metadata'];
  artifacts: Record<ArtifactName, ReleaseArtifact>;
}

export interface ProgressEvent {
  artifact: ArtifactName;
  receivedBytes: number;
  totalBytes: number | undefined;
}

/**
 * What the download of one image must verify beyond SHA-256 and size, as
 * `decideImageTrust` decides under the staging source's configuration: nothing, or the
 * image's own signature: carried inline (an OCI annotation, decoded here) or at a URL
 * (HTTP: fetched by `fetchSignature`). A refused image is refused before anything is
 * downloaded, in the words of src/trust/refusal.ts.
 */
async function imageSignatureCheck(
  config: TrustConfig,
  release: Release,
  name: ArtifactName,
  fetchSignature?: (url: string) => Promise<Uint8Array>,
): Promise<
  { signature: Uint8Array; publicKey: Uint8Array; otherKeys: readonly Uint8Array[] } | undefined
> {
  const artifact = release.artifacts[name];
  const at = artifact.signature;
  const trust = decideImageTrust(config, release.signedMetadata, name, at !== undefined);
  const unsigned = (): KubesoloError =>
    trustRefusalError(
      { code: 'SIGNATURE_MISSING', reason: 'image-unsigned', artifact: name },
      release.origin,
    );
  if (trust.check === 'refused') throw trustRefusalError(trust.refusal, release.origin);
  if (trust.check !== 'signature') return undefined;
  // decideTrust asks for a signature check only where one is present; fail closed anyway.
  const [publicKey, ...otherKeys] = trust.keys;
  if (at === undefined || publicKey === undefined) throw unsigned();
  let signature: Uint8Array;
  if ('hex' in at) {
    try {
      signature = decodeSignatureHex(at.hex);
    } catch (err) {
      if (err instanceof KubesoloError) Object.assign(err.details, { artifact: name });
      throw err;
    }
  } else if (fetchSignature !== undefined) {
    signature = await fetchSignature(at.url);
  } else {
    throw unsigned();
  }
  // Any key of the set may have signed (src/crypto/key-set-verifier.ts: one SHA-512
  // pass per key, side by side while the image streams in).
  return { signature, publicKey, otherKeys };
}

/**
 * What the download of one image checks: its pinned SHA-256 and size, and its own
 * signature where the trust decision asks for one (imageSignatureCheck).
 */
export async function imageDownloadChecks(
  config: TrustConfig,
  release: Release,
  name: ArtifactName,
  fetchSignature?: (url: string) => Promise<Uint8Array>,
): Promise<Pick<DownloadOptions, 'expectedSha256' | 'expectedSize' | 'signature'>> {
  const spec = release.artifacts[name];
  const signature = await imageSignatureCheck(config, release, name, fetchSignature);
  return {
    expectedSha256: spec.sha256,
    ...(spec.size === undefined ? {} : { expectedSize: spec.size }),
    ...(signature === undefined ? {} : { signature }),
  };
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
  /** Read the file back from the medium while it downloads (DownloadOptions.readBack). */
  readBack?: boolean;
  /**
   * What the device holds (seed images, the index cache): with it, an image that has
   * a delta index is staged by delta (src/transport/delta/stage.ts), else by one full download.
   */
  delta?: DeltaOptions;
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
  /** With StageOptions.readBack: what the medium holds (DownloadResult.readBack). */
  readBack?: ReadBack;
  /** With StageOptions.delta: how the image was staged (delta or full, and the bytes of each kind). */
  delta?: DeltaReport;
}

/**
 * The common tail of both sources' stage(): download one artifact into the download
 * directory under its slot file name, with the caller's cancellation and progress,
 * tag errors with the artifact (and `details`), and describe the staged file. An
 * image with a delta index, staged with the device's seeds (`stage.delta`), is staged
 * by delta (src/transport/delta/stage.ts), which falls back to this same full download.
 */
export async function downloadArtifact(
  artifact: ArtifactName,
  stage: StageOptions,
  options: Omit<DownloadOptions, 'dest' | 'signal' | 'onProgress'>,
  details: Record<string, unknown> = {},
  index?: ImageIndexRef,
): Promise<StagedArtifact> {
  const { signal, onProgress } = stage;
  const download: DownloadOptions = {
    ...options,
    // Under the slot's own file name (src/metadata/images.ts), so install is a rename.
    dest: join(stage.stagingDir, imageFile(artifact)),
    ...(stage.readBack ? { readBack: true } : {}),
    ...(signal ? { signal } : {}),
    ...(onProgress
      ? {
          onProgress: (receivedBytes: number, totalBytes: number | undefined) =>
            onProgress({ artifact, receivedBytes, totalBytes }),
        }
      : {}),
  };
  const full = () => downloadToFile(download);
  const viaDelta =
    index !== undefined &&
    stage.delta !== undefined &&
    options.expectedSha256 !== undefined &&
    options.expectedSize !== undefined;
  const result = await (viaDelta ? stageByDelta(download, stage, index, full) : full()).catch(
    (err: unknown) => {
      if (err instanceof KubesoloError) {
        for (const [key, value] of Object.entries({ artifact, ...details })) {
          err.details[key] ??= value;
        }
      }
      throw err;
    },
  );
  return {
    artifact,
    path: result.path,
    sha256: result.sha256,
    size: result.size,
    signatureVerified: result.signatureVerified,
    bytesFetched: result.bytesFetched,
    resumedFrom: result.resumedFrom,
    ...(result.readBack ? { readBack: result.readBack } : {}),
    ...('delta' in result ? { delta: (result as DeltaStaged).delta } : {}),
  };
}

/** The delta path (loaded only when used: the full path stays what it was). */
async function stageByDelta(
  download: DownloadOptions,
  stage: StageOptions,
  index: ImageIndexRef,
  full: () => Promise<DownloadResult>,
): Promise<DownloadResult> {
  const { stageDelta } = await import('./delta/stage.js');
  return stageDelta(
    {
      url: download.url,
      sha256: download.expectedSha256!,
      size: download.expectedSize!,
      index,
      dest: download.dest,
      stagingDir: stage.stagingDir,
      dispatcher: download.dispatcher,
      limits: { ...DEFAULT_DOWNLOAD_LIMITS, ...(download.limits ?? {}) },
      log: download.log,
      delta: stage.delta!,
      ...(download.signature ? { signature: download.signature } : {}),
      ...(download.readBack ? { readBack: true } : {}),
      ...(download.signal ? { signal: download.signal } : {}),
      ...(download.onProgress ? { onProgress: download.onProgress } : {}),
      ...(download.headers ? { headers: download.headers } : {}),
    },
    full,
  );
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
  /**
   * What staging `artifact` would download with these seeds (`check`, docs/delta.md):
   * fetches at most the pinned index, reads no seed whole. Absent: always the image.
   */
  estimate?(
    release: Release,
    artifact: ArtifactName,
    delta: DeltaOptions,
  ): Promise<DownloadEstimate>;
}
