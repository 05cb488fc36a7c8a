/**
 * From a tag to the manifest that describes this device's release (docs/oci.md, step
 * 1): a tag names an image index (one manifest per platform) or a single manifest.
 */
import { GateError, VerificationError } from '../../errors.js';
import {
  firstPlatform,
  isIndexType,
  isManifestType,
  parseIndex,
  parseManifest,
  selectPlatform,
  type ImageManifest,
} from './artifact.js';
import type { OciClient } from './client.js';

export interface ResolvedManifest {
  manifest: ImageManifest;
  digest: string;
  /** The index entry's platform architecture; undefined for a tag naming one manifest. */
  platformArch: string | undefined;
}

/** No architecture named anywhere: a defect of the artifact, refused as a mismatch. */
export function noArchitecture(where: string, wanted: string): GateError {
  return new GateError(
    'ARCH_MISMATCH',
    `${where} is for no known architecture, this device is ${wanted}`,
    { details: { reference: where, architecture: wanted, available: [] } },
  );
}

/**
 * Tag → index → this architecture's manifest, or the single manifest the tag names.
 * Without an index entry for this architecture, the first entry's manifest is taken:
 * its release names its own architecture, which the architecture gate then refuses
 * (so `check` can show that verdict).
 */
export async function resolveManifest(
  c: OciClient,
  reference: string,
  architecture: string,
  where: string,
  signal?: AbortSignal,
): Promise<ResolvedManifest> {
  const top = await c.getManifest(reference, signal);
  if (isIndexType(top.mediaType)) {
    const index = parseIndex(top.json, top.mediaType, where);
    const entry = selectPlatform(index, architecture) ?? firstPlatform(index);
    if (!entry) throw noArchitecture(where, architecture);
    const child = await c.getManifest(entry.digest, signal);
    if (!isManifestType(child.mediaType)) {
      throw new VerificationError(
        'OCI_MANIFEST_INVALID',
        `${where}: index entry is not a manifest`,
        {
          details: { reference: where, mediaType: child.mediaType },
        },
      );
    }
    return {
      manifest: parseManifest(child.json, child.mediaType, where),
      digest: child.digest,
      platformArch: entry.platform?.architecture,
    };
  }
  if (isManifestType(top.mediaType)) {
    return {
      manifest: parseManifest(top.json, top.mediaType, where),
      digest: top.digest,
      platformArch: undefined,
    };
  }
  throw new VerificationError(
    'OCI_MANIFEST_INVALID',
    `${where}: unsupported media type "${top.mediaType}"`,
    { details: { reference: where, mediaType: top.mediaType } },
  );
}
