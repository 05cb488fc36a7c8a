/**
 * `createOciUpdateSource`: updates from an OCI registry (issue #8, docs/oci.md),
 * behind the same `UpdateSource` interface as HTTP so the lifecycle, its gates and
 * its state transitions do not care where a release came from.
 *
 * Three steps: resolve the tag to this architecture's manifest (./resolve.ts), read
 * and reconcile the release's description (./describe.ts), and trust it as the HTTP
 * source does (trustFetchedRelease: decideTrust, src/trust/decide.ts). The manifest
 * and its annotations are not signed, so with a public key configured the release
 * description is the signed `latest.json` layer, and the layer digests (which the
 * registry and this client verify byte for byte) must equal the sha256 values that
 * file signs. Then `stage` downloads a layer into the slot.
 */
import { goArch } from '../../metadata/arch.js';
import type { Dispatcher } from 'undici';
import { systemClock, type Clock } from '../../clock.js';
import { UsageError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { perImage } from '../../metadata/images.js';
import {
  downloadArtifact,
  imageDownloadChecks,
  openSourceConnection,
  trustConfigFor,
  signerLogFields,
  trustFetchedRelease,
  type TrustOptions,
  type TransportLimits,
  type Release,
  type ReleaseArtifact,
  type UpdateSource,
} from '../source.js';
import type { Descriptor } from './artifact.js';
import { resolveCredentials, type CredentialSources, type RegistryCredentials } from './auth.js';
import { OciClient } from './client.js';
import { agreedArchitecture, describeRelease } from './describe.js';
import { ANNOTATION } from './media-types.js';
import { formatReference, parseRegistryReference, type RegistryReference } from './reference.js';
import { resolveManifest } from './resolve.js';

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
  log: Logger;
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
  const log = options.log;
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

  async function fetchRelease(signal?: AbortSignal): Promise<Release> {
    const c = await client();
    const resolved = await resolveManifest(c, reference!, architecture, where, signal);
    const origin = `${where}@${resolved.digest}`;
    const { metadata, layers, evidence, namedArchitectures } = await describeRelease(
      c,
      resolved,
      where,
      clock,
      signal,
    );
    const trusted = trustFetchedRelease(
      trust,
      {
        metadata,
        origin,
        signedMetadata: evidence,
        artifacts: perImage((name) => {
          const layer = layers.images[name];
          return layerArtifact(c, layer, layer.annotations[ANNOTATION.signature]);
        }),
      },
      log,
    );
    // After the trust decision: an untrusted release is refused as such first.
    const release: Release = {
      ...trusted,
      metadata: {
        ...metadata,
        architecture: agreedArchitecture(namedArchitectures, where, architecture),
      },
    };
    log.info('registry release resolved', {
      origin,
      version: metadata.version,
      ...signerLogFields(release),
    });
    return release;
  }

  // Typed by the interface it implements: its parameters are UpdateSource's.
  const stage: UpdateSource['stage'] = async (release, artifact, opts) => {
    const c = await client();
    const layer = release.artifacts[artifact];
    const digest = `sha256:${layer.sha256}`;
    // This source's signatures are inline (layer annotations): nothing to fetch.
    const checks = await imageDownloadChecks(trust, release, artifact);
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
        ...checks,
        headers: c.authHeaders(),
        // A blob is content-addressed: a partial file may always be resumed.
        immutable: true,
        limits,
        log,
      },
      { reference: where },
    );
  };

  return {
    fetchRelease,
    stage,
    close,
  };
}
