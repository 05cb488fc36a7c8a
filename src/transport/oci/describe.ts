/**
 * What a registry release is (docs/oci.md, steps 2, 4 and 5): its description, read
 * by the device's one latest.json parser, from our metadata layer when there is one,
 * else from the manifest's annotations written out as a latest.json document; checked
 * against the manifest it came in; and its architecture, on which the manifest's
 * sources must agree. Whether it is trusted is decided afterwards (../source.ts).
 */
import type { Clock } from '../../clock.js';
import { decodeSignatureHex, SIGNATURE_BYTES } from '../../crypto/keys.js';
import { VerificationError } from '../../errors.js';
import { ARTIFACT_NAMES, IMAGE_KINDS, perImage } from '../../metadata/images.js';
import {
  latestJsonOf,
  serializeLatestJson,
  type LatestJson,
  type ReleaseMetadata,
} from '../../metadata/model.js';
import { MAX_METADATA_BYTES, parseReleaseMetadata } from '../../metadata/parse.js';
import type { TrustEvidence } from '../../trust/decide.js';
import { releaseLayers, type ReleaseLayers } from './artifact.js';
import type { OciClient } from './client.js';
import { ANNOTATION } from './media-types.js';
import { noArchitecture, type ResolvedManifest } from './resolve.js';

export interface DescribedRelease {
  /** The parsed description, its images' URLs and sizes those of the layers. */
  metadata: ReleaseMetadata;
  /** The architectures the index entry, the annotation and the description name. */
  namedArchitectures: (string | undefined)[];
  layers: ReleaseLayers;
  /** The metadata layer as served and its signature: the trust decision's evidence. */
  evidence: TrustEvidence['metadata'];
}

function mismatch(
  where: string,
  what: string,
  details: Record<string, unknown>,
): VerificationError {
  return new VerificationError(
    'OCI_METADATA_MISMATCH',
    `${where}: ${what} in the manifest disagrees with the release's latest.json`,
    { details: { reference: where, ...details } },
  );
}

/** A hex signature annotation (docs/design.md §3.4: 64 bytes, written as hex). */
function annotationSignature(hex: string | undefined, where: string): Uint8Array | undefined {
  if (hex === undefined) return undefined;
  try {
    return decodeSignatureHex(hex);
  } catch (err) {
    throw new VerificationError(
      'SIGNATURE_MALFORMED',
      `${where}: signature annotation is not ${SIGNATURE_BYTES * 2} hex characters`,
      { cause: err, details: { reference: where } },
    );
  }
}

/**
 * A release without a latest.json layer: its annotations and layer descriptors as
 * the wire document, so the same parser (and its version rule) judges them.
 */
function annotationDocument(
  ann: Record<string, string>,
  layers: ReleaseLayers,
  blobUrl: (digest: string) => string,
  where: string,
): LatestJson {
  const version = ann[ANNOTATION.version];
  if (!version) {
    throw new VerificationError(
      'OCI_MANIFEST_INVALID',
      `${where}: no ${ANNOTATION.version} annotation`,
      { details: { reference: where } },
    );
  }
  const pick = (key: string) => (ann[key] === '' ? undefined : ann[key]);
  return latestJsonOf({
    version,
    images: perImage((name) => ({
      url: blobUrl(layers.images[name].digest),
      sha256: layers.images[name].digest.slice('sha256:'.length),
      size: layers.images[name].size,
    })),
    // Unset ones are left out of the document (latestJsonOf).
    channel: pick(ANNOTATION.channel),
    minCompatibleVersion: pick(ANNOTATION.minCompatibleVersion),
    architecture: pick(ANNOTATION.architecture),
    releaseNotes: pick(ANNOTATION.releaseNotes),
    releaseDate: pick(ANNOTATION.releaseDate),
  });
}

/**
 * latest.json against the manifest it came in: each layer digest (what is
 * downloaded) must be the SHA-256 it names, a size it names the layer's, and the
 * unsigned annotations must not contradict it (the gates read version, channel and
 * minimum version from it).
 */
function checkAgainstManifest(
  described: ReleaseMetadata,
  layers: ReleaseLayers,
  ann: Record<string, string>,
  where: string,
): void {
  for (const name of ARTIFACT_NAMES) {
    const layer = layers.images[name];
    const image = described.images[name];
    const title = IMAGE_KINDS[name].title;
    const layerSha = layer.digest.slice('sha256:'.length);
    if (image.sha256 !== layerSha) {
      throw mismatch(where, `the ${title} layer digest`, {
        expected: image.sha256,
        actual: layerSha,
      });
    }
    if (image.size !== undefined && image.size !== layer.size) {
      throw mismatch(where, `the ${title} layer size`, {
        expected: image.size,
        actual: layer.size,
      });
    }
  }
  const pairs: [string, string | undefined][] = [
    [ANNOTATION.version, described.version],
    [ANNOTATION.channel, described.channel],
    [ANNOTATION.minCompatibleVersion, described.minCompatibleVersion],
  ];
  for (const [key, value] of pairs) {
    const a = ann[key];
    if (a !== undefined && value !== undefined && a !== value) {
      throw mismatch(where, `annotation ${key}`, { expected: value, actual: a });
    }
  }
}

/**
 * The release's architecture: the index entry, the annotation and latest.json must
 * agree on it (an artifact that contradicts itself is refused) and one must name it.
 * Whether it is this device's is the architecture gate's verdict (src/gates/gates.ts).
 */
export function agreedArchitecture(
  named: (string | undefined)[],
  where: string,
  deviceArch: string,
): string {
  const declared = new Set(named.filter((a): a is string => a !== undefined && a !== ''));
  if (declared.size > 1) throw mismatch(where, 'the architecture', { named: [...declared] });
  const [arch] = declared;
  if (arch === undefined) throw noArchitecture(where, deviceArch);
  return arch;
}

/** Read and reconcile the description of the resolved manifest's release. */
export async function describeRelease(
  c: OciClient,
  resolved: ResolvedManifest,
  where: string,
  clock: Clock,
  signal?: AbortSignal,
): Promise<DescribedRelease> {
  const { manifest, digest, platformArch } = resolved;
  const layers = releaseLayers(manifest, where);
  const ann = manifest.annotations;
  const blobUrl = (d: string) => c.apiUrl('blobs', d);
  let described: ReleaseMetadata;
  let evidence: TrustEvidence['metadata'];
  if (layers.metadata) {
    const bytes = await c.getSmallBlob(layers.metadata.digest, MAX_METADATA_BYTES, signal);
    const sigHex =
      layers.metadata.annotations[ANNOTATION.metadataSignature] ??
      ann[ANNOTATION.metadataSignature];
    const signature = annotationSignature(sigHex, where);
    // Relative URLs resolve against the blob URL; `expires` is checked here too.
    described = parseReleaseMetadata(bytes, blobUrl(layers.metadata.digest), clock.now());
    evidence = { bytes, signature };
    checkAgainstManifest(described, layers, ann, where);
  } else {
    const doc = serializeLatestJson(annotationDocument(ann, layers, blobUrl, where));
    described = parseReleaseMetadata(doc, c.apiUrl('manifests', digest), clock.now());
  }
  return {
    layers,
    evidence,
    namedArchitectures: [platformArch, ann[ANNOTATION.architecture], described.architecture],
    // What is downloaded is each image's layer: its blob URL and the registry's size
    // (the digest, which the description names, is checked byte for byte).
    metadata: {
      ...described,
      images: perImage((name) => ({
        ...described.images[name],
        url: blobUrl(layers.images[name].digest),
        size: layers.images[name].size,
      })),
    },
  };
}
