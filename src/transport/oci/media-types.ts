/**
 * Media types and annotation keys of the KubeSolo OS registry artifact (issue #8).
 * The layer types and the `io.kubesolo.os.*` annotations are those of the KubeSolo OS
 * agent; the metadata layer and its signature annotation are ours (docs/oci.md).
 */

import type { ArtifactName } from '../../metadata/images.js';

// OCI image-spec v1.1 §image-index / §manifest, and the Docker schema 2 equivalents
// that registries and tools still produce.
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** OCI image-spec §manifest "Guidance for an Empty Descriptor": the `{}` config. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const EMPTY_CONFIG_BYTES = Buffer.from('{}');

export const INDEX_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST];
export const MANIFEST_TYPES: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST];

/** The artifact type of our manifests (OCI image-spec v1.1 `artifactType`). */
export const KUBESOLO_ARTIFACT = 'application/vnd.kubesolo.os.release.v1';
export const LAYER_KERNEL = 'application/vnd.kubesolo.os.kernel.v1+octet-stream';
export const LAYER_INITRAMFS = 'application/vnd.kubesolo.os.initramfs.v1+gzip';
export const LAYER_METADATA = 'application/vnd.kubesolo.os.metadata.v1+json';

/** The layer media type of each image of a release (src/metadata/images.ts). */
export const IMAGE_LAYER_TYPES = {
  vmlinuz: LAYER_KERNEL,
  initramfs: LAYER_INITRAMFS,
} as const satisfies Record<ArtifactName, string>;

export const ANNOTATION = {
  version: 'io.kubesolo.os.version',
  channel: 'io.kubesolo.os.channel',
  minCompatibleVersion: 'io.kubesolo.os.min_compatible_version',
  architecture: 'io.kubesolo.os.architecture',
  releaseNotes: 'io.kubesolo.os.release_notes',
  releaseDate: 'io.kubesolo.os.release_date',
  /** On the metadata layer descriptor: hex Ed25519 signature over the layer bytes. */
  metadataSignature: 'io.kubesolo.os.metadata.signature',
  /** On a kernel/initramfs layer descriptor: hex Ed25519 signature over the blob (ours). */
  signature: 'io.kubesolo.os.signature',
  /** OCI image-spec annotations.md: the file name of a layer. */
  title: 'org.opencontainers.image.title',
} as const;
