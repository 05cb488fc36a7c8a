/**
 * Where it is decided whether a release is trusted (docs/transport.md "Trust model",
 * docs/design.md §3.4): `decideTrust` is the whole policy, for the HTTP source, the OCI
 * source and `kubesolo-release verify` alike. It is pure: the sources fetch what it
 * needs (latest.json as served, the signature found for it, which images carry a
 * signature) and act on its answer; neither keeps a policy of its own.
 *
 * Fail closed: with a key configured, nothing is trusted unless a signature by one of
 * the keys ties it to the key holder, either the metadata's (which pins every image's
 * SHA-256 and size) or, where the operator allowed unsigned metadata, each image's own.
 */
import { verifyEd25519 } from '../crypto/ed25519.js';
import { ARTIFACT_NAMES, type ArtifactName } from '../metadata/images.js';

/**
 * When an image's own signature is checked. `when-unpinned` (the agent): only when
 * nothing signed pins the image, i.e. the metadata is unsigned (allowed by
 * configuration). Signed metadata already pins each image's SHA-256 and size, so a
 * second check of the same bytes adds a SHA-512 pass and no security. `always`: every
 * image signature that is there (publisher tooling checking a release it is about to
 * announce).
 */
export type ImageSignaturePolicy = 'when-unpinned' | 'always';

export interface TrustConfig {
  /**
   * Trusted Ed25519 public keys (raw 32 bytes each); a signature by any one of them is
   * accepted. Empty: no key configured, nothing is authenticated.
   */
  keys: readonly Uint8Array[];
  /** `allow_unsigned_metadata`: accept unsigned latest.json when every image is signed. */
  allowUnsignedMetadata: boolean;
  /**
   * `allow_unsigned`: with no key, releases nothing authenticates may be installed (a
   * lab). Without it and without a key, nothing is fetched (./refusal.ts
   * assertKeyConfigured: PUBKEY_REQUIRED).
   */
  allowUnsigned: boolean;
  imageSignatures: ImageSignaturePolicy;
}

export interface TrustEvidence {
  /**
   * latest.json exactly as it was served and the signature found for it (undefined:
   * none). Undefined altogether: the release has no latest.json (an OCI artifact
   * without a metadata layer), which counts as unsigned metadata.
   */
  metadata: { bytes: Uint8Array; signature: Uint8Array | undefined } | undefined;
  /** Which images carry a signature of their own (a signature URL or an annotation). */
  imageSigned: Record<ArtifactName, boolean>;
}

/** How the metadata is trusted. */
export type MetadataTrust =
  /** Its signature verified with `key` (one of the configured keys). */
  | { kind: 'signed'; key: Uint8Array }
  /** A key is configured, the metadata is unsigned, and `allow_unsigned_metadata` is set. */
  | { kind: 'unsigned-allowed' }
  /** No key configured: nothing is authenticated. */
  | { kind: 'no-key' };

export type TrustRefusalReason =
  /** A metadata signature is there and no configured key verifies it. */
  | 'metadata-signature-invalid'
  /** A key is configured, the metadata is unsigned and that is not allowed. */
  | 'metadata-unsigned'
  /** The metadata is unsigned (allowed) and this image has no signature either. */
  | 'image-unsigned';

export interface TrustRefusal {
  /** The reason code of the refusal (VerificationError, exit 4). */
  code: 'SIGNATURE_INVALID' | 'SIGNATURE_MISSING';
  reason: TrustRefusalReason;
  artifact: 'metadata' | ArtifactName;
  /** The configured keys a signature was tried with (a signature that does not verify). */
  keys?: readonly Uint8Array[];
}

/** How one image is trusted; every check besides the signature always includes SHA-256 and size. */
export type ArtifactTrust =
  /** Its own signature must be present and verify with one of `keys`. */
  | { check: 'signature'; keys: readonly Uint8Array[] }
  /** Signed metadata pins its SHA-256 and size; its own signature is not needed. */
  | { check: 'pinned' }
  /** No key: SHA-256 and size against unauthenticated metadata (corruption, not attack). */
  | { check: 'digest-only' }
  /** Not installable; staging it fails with this refusal. */
  | { check: 'refused'; refusal: TrustRefusal };

export type TrustDecision =
  | { trusted: true; metadata: MetadataTrust; artifacts: Record<ArtifactName, ArtifactTrust> }
  | { trusted: false; refusal: TrustRefusal };

/** Whether signatures matter at all: without a key there is nothing to fetch them for. */
export function wantsSignatures(config: TrustConfig): boolean {
  return config.keys.length > 0;
}

/** The first image refusal of a decision, for sources that refuse a release as a whole. */
export function firstArtifactRefusal(
  artifacts: Record<ArtifactName, ArtifactTrust>,
): TrustRefusal | undefined {
  for (const name of ARTIFACT_NAMES) {
    const trust = artifacts[name];
    if (trust.check === 'refused') return trust.refusal;
  }
  return undefined;
}

/** Decide whether a freshly fetched release is trusted, and how each image is checked. */
export function decideTrust(config: TrustConfig, evidence: TrustEvidence): TrustDecision {
  const metadata = metadataTrust(config, evidence.metadata);
  if ('refusal' in metadata) return { trusted: false, refusal: metadata.refusal };
  const pinned = metadata.kind === 'signed';
  const artifacts = {} as Record<ArtifactName, ArtifactTrust>;
  for (const name of ARTIFACT_NAMES) {
    artifacts[name] = artifactTrust(config, pinned, name, evidence.imageSigned[name]);
  }
  return { trusted: true, metadata, artifacts };
}

/**
 * How one image of a release is checked when it is staged, decided again from the
 * release's evidence under the staging source's own configuration: a release that
 * was fetched under another configuration (no key, another key) is not pinned by
 * metadata this configuration cannot verify, so its images must then be signed.
 */
export function decideImageTrust(
  config: TrustConfig,
  metadata: TrustEvidence['metadata'],
  artifact: ArtifactName,
  imageSigned: boolean,
): ArtifactTrust {
  return artifactTrust(config, signerOf(config, metadata) !== undefined, artifact, imageSigned);
}

/** The configured key that signed the metadata, if one did. */
function signerOf(config: TrustConfig, fetched: TrustEvidence['metadata']): Uint8Array | undefined {
  const signature = fetched?.signature;
  if (fetched === undefined || signature === undefined) return undefined;
  // docs/design.md §3.4: the signed message is latest.json exactly as served.
  return config.keys.find((k) => verifyEd25519(fetched.bytes, signature, k));
}

function metadataTrust(
  config: TrustConfig,
  fetched: TrustEvidence['metadata'],
): MetadataTrust | { refusal: TrustRefusal } {
  if (!wantsSignatures(config)) return { kind: 'no-key' };
  const key = signerOf(config, fetched);
  if (key !== undefined) return { kind: 'signed', key };
  // A signature that is present must verify: a bad one is never "unsigned".
  if (fetched?.signature !== undefined) {
    return {
      refusal: {
        code: 'SIGNATURE_INVALID',
        reason: 'metadata-signature-invalid',
        artifact: 'metadata',
        keys: config.keys,
      },
    };
  }
  if (config.allowUnsignedMetadata) return { kind: 'unsigned-allowed' };
  return refuse('SIGNATURE_MISSING', 'metadata-unsigned', 'metadata');
}

function artifactTrust(
  config: TrustConfig,
  pinned: boolean,
  artifact: ArtifactName,
  signed: boolean,
): ArtifactTrust {
  if (!wantsSignatures(config)) return { check: 'digest-only' };
  if (signed && (!pinned || config.imageSignatures === 'always')) {
    return { check: 'signature', keys: config.keys };
  }
  if (pinned) return { check: 'pinned' };
  // docs/design.md §3.4: with unsigned metadata nothing vouches for the hash, so the
  // image itself must be signed.
  return {
    check: 'refused',
    refusal: refuse('SIGNATURE_MISSING', 'image-unsigned', artifact).refusal,
  };
}

function refuse(
  code: TrustRefusal['code'],
  reason: TrustRefusalReason,
  artifact: TrustRefusal['artifact'],
): { refusal: TrustRefusal } {
  return { refusal: { code, reason, artifact } };
}
