/**
 * The shape of a KubeSolo OS release in a registry (issue #8, docs/oci.md): a tag
 * names an image index with one manifest per `platform.architecture`, or (for
 * arch-specific tags such as `v0.3.0-amd64`) a single manifest. A manifest carries
 * the kernel and initramfs layers, optionally our signed `latest.json` layer, and the
 * `io.kubesolo.os.*` annotations. Layers of other media types are ignored.
 */
import { VerificationError } from '../../errors.js';
import { perImage, type ArtifactName } from '../../metadata/images.js';
import { isDigest } from './reference.js';
import { IMAGE_LAYER_TYPES, INDEX_TYPES, LAYER_METADATA, MANIFEST_TYPES } from './media-types.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
  platform?: Platform;
}

export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations: Record<string, string>;
}

export interface ImageIndex {
  mediaType: string;
  manifests: Descriptor[];
  annotations: Record<string, string>;
}

/** The layers of a KubeSolo OS manifest that we use. */
export interface ReleaseLayers {
  /** One layer per image of a release. */
  images: Record<ArtifactName, Descriptor>;
  metadata?: Descriptor;
}

function malformed(where: string, why: string): VerificationError {
  return new VerificationError('OCI_MANIFEST_INVALID', `${where}: ${why}`, {
    details: { reference: where },
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, where: string, field: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v)) throw malformed(where, `${field} is not an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw malformed(where, `${field}["${k}"] is not a string`);
    out[k] = val;
  }
  return out;
}

/** OCI image-spec descriptor.md: mediaType, digest and size are required. */
function parseDescriptor(v: unknown, where: string, field: string): Descriptor {
  if (!isObject(v)) throw malformed(where, `${field} is not an object`);
  const { mediaType, digest, size, platform } = v;
  if (typeof mediaType !== 'string' || mediaType === '') {
    throw malformed(where, `${field}.mediaType is missing`);
  }
  // Only sha256 digests: they are what we verify against (image-spec descriptor.md
  // lists sha256 as the algorithm implementations MUST support).
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw malformed(where, `${field}.digest is not a sha256 digest`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw malformed(where, `${field}.size is not a non-negative integer`);
  }
  const d: Descriptor = {
    mediaType,
    digest,
    size,
    annotations: stringMap(v.annotations, where, `${field}.annotations`),
  };
  if (platform !== undefined) {
    if (
      !isObject(platform) ||
      typeof platform.architecture !== 'string' ||
      typeof platform.os !== 'string'
    ) {
      throw malformed(where, `${field}.platform needs architecture and os`);
    }
    d.platform = {
      architecture: platform.architecture,
      os: platform.os,
      ...(typeof platform.variant === 'string' ? { variant: platform.variant } : {}),
    };
  }
  return d;
}

/**
 * What an index and a manifest both must be (image-spec image-index.md, manifest.md): a
 * JSON object with schemaVersion 2 and a descriptor array, `list` (`what` names the
 * document in the error).
 */
function documentWithList(
  json: unknown,
  where: string,
  what: 'index' | 'manifest',
  list: 'manifests' | 'layers',
): { doc: Record<string, unknown>; items: unknown[] } {
  if (!isObject(json)) throw malformed(where, `${what} is not a JSON object`);
  // schemaVersion MUST be 2.
  if (json.schemaVersion !== 2) throw malformed(where, 'schemaVersion is not 2');
  const items = json[list];
  if (!Array.isArray(items)) throw malformed(where, `${what} has no ${list} array`);
  return { doc: json, items };
}

export function isIndexType(mediaType: string): boolean {
  return INDEX_TYPES.includes(mediaType);
}

export function isManifestType(mediaType: string): boolean {
  return MANIFEST_TYPES.includes(mediaType);
}

export function parseIndex(json: unknown, mediaType: string, where: string): ImageIndex {
  const { doc, items } = documentWithList(json, where, 'index', 'manifests');
  return {
    mediaType,
    manifests: items.map((m, i) => parseDescriptor(m, where, `manifests[${i}]`)),
    annotations: stringMap(doc.annotations, where, 'annotations'),
  };
}

export function parseManifest(json: unknown, mediaType: string, where: string): ImageManifest {
  const { doc, items } = documentWithList(json, where, 'manifest', 'layers');
  return {
    mediaType,
    config: parseDescriptor(doc.config, where, 'config'),
    layers: items.map((l, i) => parseDescriptor(l, where, `layers[${i}]`)),
    annotations: stringMap(doc.annotations, where, 'annotations'),
  };
}

/**
 * The index entry for `architecture` on Linux (image-index.md `platform`). An entry
 * without `os` restrictions other than linux is accepted; Windows/others are skipped.
 */
export function selectPlatform(index: ImageIndex, architecture: string): Descriptor | undefined {
  return index.manifests.find(
    (m) =>
      m.platform !== undefined &&
      m.platform.architecture === architecture &&
      m.platform.os === 'linux' &&
      isManifestType(m.mediaType),
  );
}

/** The first linux manifest entry of an index that names a platform, if any. */
export function firstPlatform(index: ImageIndex): Descriptor | undefined {
  return index.manifests.find(
    (m) => m.platform !== undefined && m.platform.os === 'linux' && isManifestType(m.mediaType),
  );
}

/** Each image's layer and the (optional) metadata layer; exactly one of each kind. */
export function releaseLayers(manifest: ImageManifest, where: string): ReleaseLayers {
  const pick = (type: string, required: boolean): Descriptor | undefined => {
    const found = manifest.layers.filter((l) => l.mediaType === type);
    if (found.length > 1) throw malformed(where, `more than one ${type} layer`);
    if (required && found.length === 0) throw malformed(where, `no ${type} layer`);
    return found[0];
  };
  const images = perImage((name) => pick(IMAGE_LAYER_TYPES[name], true)!);
  const metadata = pick(LAYER_METADATA, false);
  return { images, ...(metadata ? { metadata } : {}) };
}
