/**
 * `push --pause` / `push --resume` (docs/publishing.md "Pausing a rollout"): the OCI form
 * of ./pause.ts. The manifest under `TAG-ARCH` gets a new latest.json layer (the same
 * document with `paused` set or removed, signed again), the images' layers stay as they
 * are, and the index under `TAG` points at the new manifest. Nothing is uploaded but the
 * small metadata blob and the two manifests.
 */
import type { KeyObject } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { encodeSignature } from '../crypto/keys.js';
import { OperationError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { MAX_METADATA_BYTES } from '../metadata/parse.js';
import { isManifestType } from '../transport/oci/artifact.js';
import type { RegistryCredentials } from '../transport/oci/auth.js';
import { OciClient, sha256Digest } from '../transport/oci/client.js';
import { ANNOTATION, LAYER_METADATA, OCI_MANIFEST } from '../transport/oci/media-types.js';
import { formatReference, isValidTag, parseRegistryReference } from '../transport/oci/reference.js';
import type { RetryPolicy } from '../transport/retry.js';
import { refuseWhatDevicesRefuse } from './device-rules.js';
import { updateIndex } from './oci-push.js';
import { putManifest, uploadMonolithic } from './oci-registry-push.js';
import { withPaused } from './pause.js';
import { signBytes } from './sign.js';

export interface OciPauseOptions {
  registry: string;
  tag: string;
  architecture: string;
  signingKey: KeyObject;
  paused: boolean;
  credentials?: RegistryCredentials | undefined;
  dispatcher?: Dispatcher | undefined;
  retry?: RetryPolicy | undefined;
  log: Logger;
  now: Date;
}

interface Layer {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export async function setPushedPause(o: OciPauseOptions): Promise<{
  reference: string;
  archReference: string;
  manifestDigest: string;
  indexDigest: string;
  version: string;
  paused: boolean;
}> {
  const ref = parseRegistryReference(o.registry);
  const archTag = `${o.tag}-${o.architecture}`;
  for (const t of [o.tag, archTag]) {
    if (!isValidTag(t)) throw new UsageError('INVALID_TAG', `"${t}" is not a valid OCI tag`);
  }
  const client = new OciClient({
    ref,
    credentials: o.credentials,
    dispatcher: o.dispatcher,
    actions: ['pull', 'push'],
    log: o.log,
    retry: o.retry,
    userAgent: 'kubesolo-release',
  });
  const fetched = await client.getManifest(archTag);
  if (!isManifestType(fetched.mediaType)) {
    throw new OperationError(
      'OCI_TAG_CONFLICT',
      `tag ${archTag} holds ${fetched.mediaType}, not a release manifest`,
    );
  }
  const manifest = fetched.json as { layers?: Layer[]; annotations?: Record<string, string> };
  const layer = manifest.layers?.find((l) => l.mediaType === LAYER_METADATA);
  if (layer === undefined) {
    throw new UsageError(
      'OCI_NO_METADATA_LAYER',
      `${formatReference(ref, archTag)} has no latest.json layer to sign again; push the release again with --pause`,
    );
  }
  const current = await client.getSmallBlob(layer.digest, MAX_METADATA_BYTES);
  const bytes = withPaused(current, o.paused, `the latest.json layer of ${archTag}`);
  refuseWhatDevicesRefuse(bytes, client.apiUrl('blobs', layer.digest), o.now);
  const version = (JSON.parse(bytes.toString('utf8')) as { version: string }).version;
  const digest = sha256Digest(bytes);
  if (!(await client.locateBlob(digest))) {
    await uploadMonolithic(client, digest, bytes.length, () => bytes);
  }
  const signature = encodeSignature(signBytes(o.signingKey, bytes), 'hex').toString('ascii');
  const layers = manifest.layers!.map((l) =>
    l === layer
      ? {
          ...l,
          digest,
          size: bytes.length,
          annotations: { ...l.annotations, [ANNOTATION.metadataSignature]: signature },
        }
      : l,
  );
  const manifestBytes = Buffer.from(JSON.stringify({ ...manifest, layers }));
  const manifestDigest = await putManifest(client, archTag, OCI_MANIFEST, manifestBytes);
  const { indexDigest } = await updateIndex(client, {
    tag: o.tag,
    architecture: o.architecture,
    version,
    manifestDigest,
    manifestSize: manifestBytes.length,
    log: o.log,
  });
  o.log.info(o.paused ? 'rollout paused' : 'rollout resumed', {
    tag: o.tag,
    version,
    manifest: manifestDigest,
  });
  return {
    reference: formatReference(ref, o.tag),
    archReference: formatReference(ref, archTag),
    manifestDigest,
    indexDigest,
    version,
    paused: o.paused,
  };
}
