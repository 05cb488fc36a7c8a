/**
 * `createOciUpdateSource`: updates from an OCI registry (issue #8, docs/oci.md),
 * behind the same `UpdateSource` interface as HTTP so the lifecycle, its gates and
 * its state transitions do not care where a release came from.
 *
 * Trust (docs/design.md §3.4, applied to registries) is decided by `decideTrust`
 * (src/trust/decide.ts). The manifest and its annotations are not signed, so with a
 * public key configured the release description is taken from the signed
 * `latest.json` layer, and the layer digests (which the registry and this client
 * verify byte for byte) must equal the sha256 values that file signs.
 */
import { goArch } from '../../arch.js';
import type { Dispatcher } from 'undici';
import { systemClock, type Clock } from '../../clock.js';
import { GateError, UsageError, VerificationError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { decodeSignatureHex, SIGNATURE_BYTES } from '../../crypto/keys.js';
import { MAX_METADATA_BYTES, parseReleaseMetadata } from '../../metadata/parse.js';
import { ARTIFACT_NAMES, IMAGE_KINDS, perImage, type ArtifactName } from '../../metadata/images.js';
import {
  latestJsonOf,
  serializeLatestJson,
  type LatestJson,
  type ReleaseMetadata,
} from '../../metadata/model.js';
import {
  downloadArtifact,
  imageSignatureCheck,
  openSourceConnection,
  trustConfigFor,
  trustFetchedRelease,
  type TrustOptions,
  type TransportLimits,
  type Release,
  type ReleaseArtifact,
  type StageOptions,
  type StagedArtifact,
  type UpdateSource,
} from '../source.js';
import {
  isIndexType,
  isManifestType,
  parseIndex,
  parseManifest,
  releaseLayers,
  selectPlatform,
  firstPlatform,
  type Descriptor,
  type ImageManifest,
  type ReleaseLayers,
} from './artifact.js';
import { resolveCredentials, type CredentialSources, type RegistryCredentials } from './auth.js';
import { OciClient } from './client.js';
import { ANNOTATION } from './media-types.js';
import { formatReference, parseRegistryReference, type RegistryReference } from './reference.js';

export interface OciUpdateSourceOptions extends TrustOptions {
  /** `[http://|https://]host[:port]/repository[:tag]` (docs/oci.md "References"). */
  registry: string;
  /** Tag or digest to fetch; default: the tag written in `registry`. */
  tag?: string | undefined;
  /** Go architecture name; default: this machine's. */
  architecture?: string | undefined;
  /** Ready credentials, or where to find them (config keys / docker config.json). */
  credentials?: RegistryCredentials | CredentialSources | undefined;
  /** Extra CA bundle (PEM) trusted in addition to the system roots (`ca_file`). */
  caFile?: string | undefined;
  /** Use this dispatcher instead of building one (tests, connection reuse). */
  dispatcher?: Dispatcher | undefined;
  log?: Logger | undefined;
  clock?: Clock | undefined;
  /** Limits of the layer downloads, as for HTTP (timeouts, retries, size caps). */
  limits?: Partial<TransportLimits> | undefined;
  /** Environment for HTTPS_PROXY/NO_PROXY (default process.env). */
  env?: NodeJS.ProcessEnv | undefined;
}

export interface OciUpdateSource extends UpdateSource {
  /** Close idle connections (when the source created its own dispatcher). */
  close(): Promise<void>;
}

export { goArch };

function archMismatch(where: string, wanted: string, found: string | string[]): GateError {
  const list = Array.isArray(found) ? found : [found];
  return new GateError(
    'ARCH_MISMATCH',
    `${where} is for ${list.length > 0 ? list.join(', ') : 'no known architecture'}, this device is ${wanted}`,
    { details: { reference: where, architecture: wanted, available: list } },
  );
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

function hexSignature(hex: string | undefined, where: string): Uint8Array | undefined {
  if (hex === undefined) return undefined;
  // docs/design.md §3.4: a signature is 64 bytes; in an annotation it is written as hex.
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

/** A layer as a release image: the blob URL, its digest and size, its signature annotation. */
function layerArtifact(
  c: OciClient,
  layer: Descriptor,
  signatureHex: string | undefined,
): ReleaseArtifact {
  return {
    url: c.apiUrl('blobs', layer.digest),
    sha256: layer.digest.slice('sha256:'.length),
    size: layer.size,
    ...(signatureHex === undefined ? {} : { signature: { hex: signatureHex } }),
  };
}

/**
 * Ready credentials (with a token from config.json) are used as they are; anything
 * else is where to find them (username/password config keys, auth file), resolved
 * with the same rules as the config keys: both halves or neither.
 */
async function credentialsFor(
  c: RegistryCredentials | CredentialSources | undefined,
  host: string,
): Promise<RegistryCredentials | undefined> {
  if (c === undefined) return undefined;
  if ('identityToken' in c || 'registryToken' in c) return c;
  return resolveCredentials(c, host);
}

export function createOciUpdateSource(options: OciUpdateSourceOptions): OciUpdateSource {
  // Registries: an image's own signature is checked only where nothing signed pins it.
  // No key and no allow_unsigned: refused before anything else (PUBKEY_REQUIRED).
  const trust = trustConfigFor(options, 'when-unpinned');
  const ref: RegistryReference = parseRegistryReference(options.registry);
  const reference = options.tag ?? ref.tag ?? ref.digest;
  if (reference === undefined || reference === '') {
    throw new UsageError('REGISTRY_TAG_REQUIRED', 'a registry update needs a tag (--tag or tag=)');
  }
  const architecture = options.architecture ?? goArch();
  const log = options.log ?? silentLogger;
  const clock = options.clock ?? systemClock;
  // One dispatcher (ca_file, proxies, connect timeout) for the API and the layers.
  const { limits, dispatcher, close } = openSourceConnection(options);
  const where = formatReference(ref, reference);
  let clientPromise: Promise<OciClient> | undefined;

  function client(): Promise<OciClient> {
    clientPromise ??= (async () => {
      const credentials = await credentialsFor(options.credentials, ref.host);
      return new OciClient({
        ref,
        credentials,
        dispatcher,
        actions: ['pull'],
        log,
        timeoutMs: limits.headersTimeoutMs,
        retry: limits.retry,
      });
    })();
    return clientPromise;
  }

  /** Tag → index → this architecture's manifest (or the single manifest, checked). */
  async function resolveManifest(
    c: OciClient,
    signal?: AbortSignal,
  ): Promise<{ manifest: ImageManifest; digest: string; platformArch: string | undefined }> {
    const top = await c.getManifest(reference!, signal);
    if (isIndexType(top.mediaType)) {
      const index = parseIndex(top.json, top.mediaType, where);
      // Without an entry for this architecture, the first one's release is described
      // anyway: the architecture gate then refuses it, and `check` shows that verdict.
      const entry = selectPlatform(index, architecture) ?? firstPlatform(index);
      if (!entry) throw archMismatch(where, architecture, []);
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

  async function fetchRelease(signal?: AbortSignal): Promise<Release> {
    const c = await client();
    const { manifest, digest, platformArch } = await resolveManifest(c, signal);
    const layers = releaseLayers(manifest, where);
    const ann = manifest.annotations;
    const origin = `${where}@${digest}`;
    const blobUrl = (d: string) => c.apiUrl('blobs', d);

    // The release description goes through the device's one parser: our latest.json
    // layer (docs/oci.md "Metadata layer") when there is one, else the annotations
    // written out as a latest.json document.
    let described: ReleaseMetadata;
    let fetched: { bytes: Uint8Array; signature: Uint8Array | undefined } | undefined;
    if (layers.metadata) {
      const bytes = await c.getSmallBlob(layers.metadata.digest, MAX_METADATA_BYTES, signal);
      const sigHex =
        layers.metadata.annotations[ANNOTATION.metadataSignature] ??
        ann[ANNOTATION.metadataSignature];
      const signature = hexSignature(sigHex, where);
      // Relative URLs resolve against the blob URL; `expires` is checked here too.
      described = parseReleaseMetadata(bytes, blobUrl(layers.metadata.digest), clock.now());
      fetched = { bytes, signature };
      checkAgainstManifest(described, layers, ann);
    } else {
      const doc = annotationDocument(ann, layers, blobUrl);
      const manifestUrl = c.apiUrl('manifests', digest);
      described = parseReleaseMetadata(serializeLatestJson(doc), manifestUrl, clock.now());
    }

    const signatureHex = perImage((name) => layers.images[name].annotations[ANNOTATION.signature]);
    const decision = trustFetchedRelease(
      trust,
      { metadata: fetched, imageSigned: perImage((name) => signatureHex[name] !== undefined) },
      origin,
      log,
    );
    const metadataSigned = decision.metadata.kind === 'signed';

    // The release's architecture: the index entry, the annotation and latest.json must
    // agree on it (an artifact that contradicts itself is refused) and one must name it.
    // Whether it is this device's is the architecture gate's verdict (src/agent/gates.ts).
    const declared = new Set(
      [platformArch, ann[ANNOTATION.architecture], described.architecture].filter(
        (a): a is string => a !== undefined && a !== '',
      ),
    );
    if (declared.size > 1) {
      throw mismatch(where, 'the architecture', { named: [...declared] });
    }
    const [releaseArch] = declared;
    if (releaseArch === undefined) throw archMismatch(where, architecture, []);

    // What is downloaded is each image's layer: its blob URL and the registry's size
    // (the digest, which the description names, is checked byte for byte).
    const metadata: ReleaseMetadata = {
      ...described,
      architecture: releaseArch,
      images: perImage((name) => ({
        ...described.images[name],
        url: blobUrl(layers.images[name].digest),
        size: layers.images[name].size,
      })),
    };
    const release: Release = {
      metadata,
      metadataSigned,
      origin,
      signedMetadata: fetched,
      artifacts: perImage((name) => layerArtifact(c, layers.images[name], signatureHex[name])),
    };
    log.info('registry release resolved', {
      origin,
      version: metadata.version,
      signed: metadataSigned,
    });
    return release;
  }

  /**
   * A release without a latest.json layer: its annotations and layer descriptors as
   * the wire document, so the same parser (and its version rule) judges them.
   */
  function annotationDocument(
    ann: Record<string, string>,
    layers: ReleaseLayers,
    blobUrl: (digest: string) => string,
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

  async function stage(
    release: Release,
    artifact: ArtifactName,
    opts: StageOptions,
  ): Promise<StagedArtifact> {
    const c = await client();
    const layer = release.artifacts[artifact];
    const digest = `sha256:${layer.sha256}`;
    // This source's signatures are inline (layer annotations): nothing to fetch.
    const signature = await imageSignatureCheck(trust, release, artifact);
    // HEAD first: it answers the auth challenge (the token then rides along as a
    // header) and tells a missing layer apart from a network failure.
    const loc = await c.locateBlob(digest, opts.signal);
    if (!loc) throw c.blobMissing(digest);
    return downloadArtifact(
      artifact,
      opts,
      {
        // The registry URL, not a storage redirect target: downloadToFile follows
        // redirects itself and drops Authorization when they leave the registry.
        url: c.apiUrl('blobs', digest),
        dispatcher,
        expectedSha256: layer.sha256,
        ...(layer.size === undefined ? {} : { expectedSize: layer.size }),
        ...(signature === undefined ? {} : { signature }),
        headers: c.authHeaders(),
        // A blob is content-addressed: a partial file may always be resumed.
        immutable: true,
        limits,
        log,
      },
      { reference: where },
    );
  }

  return {
    fetchRelease,
    stage,
    close,
  };
}
