/**
 * `kubesolo-release push`: publish a release to an OCI registry in the layout the
 * agent pulls (issue #8, docs/oci.md): the kernel, initramfs and (ours) signed
 * latest.json as layers of a per-architecture manifest with the `io.kubesolo.os.*`
 * annotations, that manifest under `TAG-ARCH`, and an image index under `TAG` that
 * gains or replaces this architecture's entry and keeps the others.
 */
import { encodeSignature } from '../crypto/keys.js';
import { ARTIFACT_NAMES, imageFile, perImage, type ArtifactName } from '../metadata/images.js';
import { latestJsonOf, serializeLatestJson } from '../metadata/model.js';
import { refuseWhatDevicesRefuse } from './device-rules.js';
import { releaseFields, type ReleaseFields } from './fleet-fields.js';
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Dispatcher } from 'undici';
import { ioFailure, KubesoloError, OperationError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { signBytes } from './sign.js';
import {
  isIndexType,
  isManifestType,
  parseIndex,
  type Descriptor,
} from '../transport/oci/artifact.js';
import type { RegistryCredentials } from '../transport/oci/auth.js';
import { OciClient, sha256Digest } from '../transport/oci/client.js';
import type { RetryPolicy } from '../transport/retry.js';
import { putManifest, uploadChunked, uploadMonolithic } from './oci-registry-push.js';
import {
  ANNOTATION,
  EMPTY_CONFIG_BYTES,
  IMAGE_LAYER_TYPES,
  KUBESOLO_ARTIFACT,
  LAYER_METADATA,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../transport/oci/media-types.js';
import { formatReference, isValidTag, parseRegistryReference } from '../transport/oci/reference.js';
import { userAgent } from '../version.js';

export type UploadMode = 'monolithic' | 'chunked';

export interface OciPushOptions extends ReleaseFields {
  registry: string;
  tag: string;
  /** Each image's file on the publisher's disk. */
  imagePaths: Record<ArtifactName, string>;
  version: string;
  /** Go architecture name: the index entry's platform. */
  architecture: string;
  /** RFC 3339; default: now. */
  releaseDate?: string | undefined;
  /** Ed25519 private key: signs latest.json and both images. */
  signingKey?: KeyObject | undefined;
  credentials?: RegistryCredentials | undefined;
  dispatcher?: Dispatcher | undefined;
  /** `chunked` PATCHes `chunkSize` bytes at a time (default: monolithic PUT). */
  uploadMode?: UploadMode | undefined;
  chunkSize?: number | undefined;
  log: Logger;
  now?: () => Date;
  /** Retries of idempotent requests (default: the transport's). */
  retry?: RetryPolicy | undefined;
}

export interface PushedBlob {
  name: string;
  digest: string;
  size: number;
  /** False when the registry already had it (not uploaded again). */
  uploaded: boolean;
  /** PATCH requests used (chunked mode). */
  chunks?: number;
}

export interface OciPushResult {
  reference: string;
  manifestDigest: string;
  archTag: string;
  /** `host/repo:TAG-ARCH` */
  archReference: string;
  indexDigest: string;
  /** Architectures in the index after this push. */
  architectures: string[];
  blobs: PushedBlob[];
  signed: boolean;
}

const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

interface LocalFile {
  name: string;
  path: string;
  size: number;
  digest: string;
}

async function describeFile(path: string, name: string): Promise<LocalFile> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new UsageError(
      'INPUT_UNREADABLE',
      `cannot read ${name} file ${path}`,
      ioFailure(err, { path }),
    );
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { name, path, size, digest: 'sha256:' + hash.digest('hex') };
}

/** Ed25519 over the exact bytes (docs/design.md §3.4), hex-encoded for an annotation. */
function signHex(key: KeyObject, data: Buffer): string {
  return encodeSignature(signBytes(key, data), 'hex').toString('ascii');
}

/**
 * latest.json for the metadata layer: the layers are content-addressed, so their
 * digests are the SHA-256 a device checks and their URLs the registry's blob endpoints.
 */
export function buildLatestJson(
  o: OciPushOptions,
  files: Record<ArtifactName, LocalFile>,
  blobUrl: (digest: string) => string,
  releaseDate: string,
  now: Date = new Date(),
): Buffer {
  return serializeLatestJson(
    latestJsonOf({
      version: o.version,
      images: perImage((name) => ({
        url: blobUrl(files[name].digest),
        sha256: files[name].digest.slice('sha256:'.length),
        size: files[name].size,
      })),
      releaseDate,
      ...releaseFields(o, now),
    }),
  );
}

export async function pushRelease(o: OciPushOptions): Promise<OciPushResult> {
  const log = o.log;
  const ref = parseRegistryReference(o.registry);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new UsageError(
      'INVALID_REGISTRY_REFERENCE',
      'give the tag with --tag, not in --registry',
    );
  }
  const archTag = `${o.tag}-${o.architecture}`;
  for (const t of [o.tag, archTag]) {
    if (!isValidTag(t)) throw new UsageError('INVALID_TAG', `"${t}" is not a valid OCI tag`);
  }
  const mode = o.uploadMode ?? 'monolithic';
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new UsageError('INVALID_CHUNK_SIZE', 'chunk size must be a positive integer');
  }
  const client = new OciClient({
    ref,
    credentials: o.credentials,
    dispatcher: o.dispatcher,
    actions: ['pull', 'push'],
    log,
    retry: o.retry,
    userAgent: userAgent('kubesolo-release'),
  });
  const now = (o.now ?? (() => new Date()))();
  const releaseDate = o.releaseDate ?? now.toISOString();

  const files = {} as Record<ArtifactName, LocalFile>;
  for (const name of ARTIFACT_NAMES) {
    files[name] = await describeFile(o.imagePaths[name], imageFile(name));
  }
  const blobUrl = (d: string) => client.apiUrl('blobs', d);
  const latest = buildLatestJson(o, files, blobUrl, releaseDate, now);
  refuseWhatDevicesRefuse(latest, blobUrl(files.vmlinuz.digest), now);
  const latestFile: LocalFile = {
    name: 'latest.json',
    path: '',
    size: latest.length,
    digest: sha256Digest(latest),
  };
  const signatures: Record<string, string> = {};
  if (o.signingKey) {
    signatures['latest.json'] = signHex(o.signingKey, latest);
    // Image signatures too, so a device with allow_unsigned_metadata=true can still
    // authenticate both images (docs/design.md §3.4). Pure Ed25519 needs the whole message.
    for (const name of ARTIFACT_NAMES) {
      signatures[files[name].name] = signHex(o.signingKey, await readFile(files[name].path));
    }
  }

  const config: LocalFile = {
    name: 'config',
    path: '',
    size: EMPTY_CONFIG_BYTES.length,
    digest: sha256Digest(EMPTY_CONFIG_BYTES),
  };
  const upload = { client, log, mode, chunkSize };
  // One after another, config first and latest.json last, as a registry sees them.
  const blobs = [await pushBlob(upload, config, EMPTY_CONFIG_BYTES)];
  for (const name of ARTIFACT_NAMES) blobs.push(await pushBlob(upload, files[name]));
  blobs.push(await pushBlob(upload, latestFile, latest));
  const manifestBytes = releaseManifest(o, releaseDate, config, files, latestFile, signatures);
  const manifestDigest = await putManifest(client, archTag, OCI_MANIFEST, manifestBytes);
  log.info('manifest pushed', { tag: archTag, digest: manifestDigest });

  const { indexDigest, manifests } = await updateIndex(client, {
    tag: o.tag,
    architecture: o.architecture,
    version: o.version,
    manifestDigest,
    manifestSize: manifestBytes.length,
    log,
  });
  log.info('index pushed', { tag: o.tag, digest: indexDigest });
  return {
    reference: formatReference(ref, o.tag),
    manifestDigest,
    archTag,
    archReference: formatReference(ref, archTag),
    indexDigest,
    architectures: manifests.map((m) => m.platform?.architecture ?? ''),
    blobs,
    signed: o.signingKey !== undefined,
  };
}

interface Upload {
  client: OciClient;
  log: Logger;
  mode: UploadMode;
  chunkSize: number;
}

/** One blob into the registry, unless it is there already (content-addressed). */
async function pushBlob(u: Upload, f: LocalFile, bytes?: Buffer): Promise<PushedBlob> {
  const blob = { name: f.name, digest: f.digest, size: f.size };
  if (await u.client.locateBlob(f.digest)) {
    u.log.info('blob already in the registry', { name: f.name, digest: f.digest });
    return { ...blob, uploaded: false };
  }
  const whole = () => bytes ?? createReadStream(f.path);
  const slice = (start: number, end: number) =>
    bytes ? bytes.subarray(start, end) : createReadStream(f.path, { start, end: end - 1 });
  let pushed: PushedBlob;
  if (u.mode === 'chunked' && f.size > 0) {
    const chunks = await uploadChunked(u.client, f.digest, f.size, u.chunkSize, slice);
    pushed = { ...blob, uploaded: true, chunks };
  } else {
    await uploadMonolithic(u.client, f.digest, f.size, whole);
    pushed = { ...blob, uploaded: true };
  }
  u.log.info('blob uploaded', { name: f.name, digest: f.digest, size: f.size, mode: u.mode });
  return pushed;
}

/**
 * The per-architecture manifest: OCI image-spec v1.1 manifest.md, an artifact with the
 * empty config descriptor, one layer per image and the latest.json layer, each with
 * its signature annotation when signed, and the `io.kubesolo.os.*` annotations.
 */
function releaseManifest(
  o: OciPushOptions,
  releaseDate: string,
  config: LocalFile,
  files: Record<ArtifactName, LocalFile>,
  latestFile: LocalFile,
  signatures: Record<string, string>,
): Buffer {
  const layer = (f: LocalFile, mediaType: string, sigKey: string): Record<string, unknown> => ({
    mediaType,
    digest: f.digest,
    size: f.size,
    annotations: {
      [ANNOTATION.title]: f.name === 'latest.json' ? 'latest.json' : basename(f.name),
      ...(signatures[f.name] ? { [sigKey]: signatures[f.name] } : {}),
    },
  });
  const annotations: Record<string, string> = {
    [ANNOTATION.version]: o.version,
    [ANNOTATION.architecture]: o.architecture,
    [ANNOTATION.releaseDate]: releaseDate,
    'org.opencontainers.image.created': releaseDate,
    'org.opencontainers.image.version': o.version,
  };
  if (o.channel) annotations[ANNOTATION.channel] = o.channel;
  if (o.minCompatibleVersion) annotations[ANNOTATION.minCompatibleVersion] = o.minCompatibleVersion;
  if (o.releaseNotes) annotations[ANNOTATION.releaseNotes] = o.releaseNotes;
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: KUBESOLO_ARTIFACT,
    config: { mediaType: OCI_EMPTY, digest: config.digest, size: config.size },
    layers: [
      ...ARTIFACT_NAMES.map((name) =>
        layer(files[name], IMAGE_LAYER_TYPES[name], ANNOTATION.signature),
      ),
      layer(latestFile, LAYER_METADATA, ANNOTATION.metadataSignature),
    ],
    annotations,
  };
  return Buffer.from(JSON.stringify(manifest));
}

/**
 * Put the index under `tag` with this architecture's manifest in it (added or replaced),
 * keeping the entries of the other architectures. `push` and `push --pause` use it.
 */
export async function updateIndex(
  client: OciClient,
  o: {
    tag: string;
    architecture: string;
    version: string;
    manifestDigest: string;
    manifestSize: number;
    log: Logger;
  },
): Promise<{ indexDigest: string; manifests: Descriptor[] }> {
  const entry: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest: o.manifestDigest,
    size: o.manifestSize,
    platform: { architecture: o.architecture, os: 'linux' },
    annotations: { [ANNOTATION.version]: o.version },
  };
  const others = await existingIndexEntries(client, o.tag, o.architecture, o.log);
  const manifests = [...others, entry].sort((a, b) =>
    (a.platform?.architecture ?? '').localeCompare(b.platform?.architecture ?? ''),
  );
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests,
    annotations: { [ANNOTATION.version]: o.version },
  };
  const indexDigest = await putManifest(
    client,
    o.tag,
    OCI_INDEX,
    Buffer.from(JSON.stringify(index)),
  );
  return { indexDigest, manifests };
}

/**
 * The entries of the index already under `tag` for other architectures, so pushing
 * arm64 after amd64 yields one index with both. A tag holding something else (a
 * single manifest) is replaced.
 */
async function existingIndexEntries(
  client: OciClient,
  tag: string,
  architecture: string,
  log: Logger,
): Promise<Descriptor[]> {
  let fetched;
  try {
    fetched = await client.getManifest(tag);
  } catch (err) {
    if (err instanceof KubesoloError && err.code === 'OCI_MANIFEST_NOT_FOUND') return [];
    throw err;
  }
  if (isManifestType(fetched.mediaType)) {
    log.warn('tag held a single manifest; replacing it with an index', { tag });
    return [];
  }
  if (!isIndexType(fetched.mediaType)) {
    throw new OperationError(
      'OCI_TAG_CONFLICT',
      `tag ${tag} holds ${fetched.mediaType}, not an index`,
    );
  }
  const index = parseIndex(fetched.json, fetched.mediaType, tag);
  return index.manifests.filter((m) => m.platform?.architecture !== architecture);
}
