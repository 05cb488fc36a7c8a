/**
 * UpdateSource over plain HTTP(S): latest.json plus the files it names (docs/design.md §3.3),
 * with the trust policy of docs/design.md §3.4 applied before anything reaches the lifecycle.
 *
 * What is trusted is decided by `decideTrust` (src/trust/decide.ts); this source only
 * fetches what that decision needs: the metadata signature (`metadata_sig_url`, else
 * `<metadata URL>.sig`, fetched only when a key is configured) and, where the decision
 * says an image's own signature is checked, that signature (`*_sig_url`). Expired
 * metadata is refused by the parser.
 */
import type { Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, KubesoloError, VerificationError } from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';
import type { Logger } from '../log.js';
import { MAX_SIGNATURE_FILE_BYTES, parseSignature } from '../crypto/keys.js';
import { MAX_METADATA_BYTES, parseReleaseMetadata } from '../metadata/parse.js';
import { perImage, type ArtifactName } from '../metadata/images.js';
import type { ReleaseImage } from '../metadata/model.js';
import type { DeltaOptions } from './delta/stage.js';
import { wantsSignatures } from '../trust/decide.js';
import { TransportCode, redactUrl } from './errors.js';
import { fetchBytes } from './http.js';
import { withRetry } from './retry.js';
import {
  downloadArtifact,
  imageDownloadChecks,
  openSourceConnection,
  trustConfigFor,
  signerLogFields,
  trustFetchedRelease,
  type TrustOptions,
  type TransportLimits,
  type ImageSignaturePolicy,
  type Release,
  type ReleaseArtifact,
  type UpdateSource,
} from './source.js';

export type { TransportLimits };

export interface HttpUpdateSourceOptions extends TrustOptions {
  /** URL of latest.json (http: or https:, no credentials). */
  metadataUrl: string;
  /** When image signatures are checked (default `when-unpinned`). */
  imageSignatures?: ImageSignaturePolicy;
  /** Extra CA bundle (PEM) for a private HTTPS server (`ca_file`). */
  caFile?: string;
  log: Logger;
  clock?: Clock;
  limits?: Partial<TransportLimits>;
  /** Use this undici dispatcher instead of creating one (tests, sharing a pool). */
  dispatcher?: Dispatcher;
  /** Environment for HTTPS_PROXY/NO_PROXY (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface HttpUpdateSource extends UpdateSource {
  /** Close idle connections. */
  close(): Promise<void>;
}

function checkServerUrl(url: string, what = 'server URL'): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('SERVER_URL_INVALID', `${what} is not a valid URL`, {
      details: { url: redactUrl(url) },
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('SERVER_URL_INVALID', `${what} must be http: or https:`, {
      details: { url: redactUrl(url) },
    });
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError('SERVER_URL_INVALID', `${what} must not contain credentials`, {
      details: { url: redactUrl(url) },
    });
  }
  return parsed;
}

/** What a small fetch (the metadata, a signature) needs: the source's connection. */
interface SmallFetch {
  dispatcher: Dispatcher;
  limits: TransportLimits;
  log: Logger;
}

/** A small document, whole, bounded by `maxBytes`, retried as the transport retries. */
function fetchSmall(
  ctx: SmallFetch,
  url: string,
  maxBytes: number,
  tooLargeCode: ReasonCode,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return withRetry(
    () =>
      fetchBytes(url, {
        dispatcher: ctx.dispatcher,
        maxRedirects: ctx.limits.maxRedirects,
        headersTimeoutMs: ctx.limits.headersTimeoutMs,
        bodyTimeoutMs: ctx.limits.idleTimeoutMs,
        maxBytes,
        tooLargeCode,
        ...(signal ? { signal } : {}),
      }),
    ctx.limits.retry,
    ctx.log,
    signal,
  );
}

/** Fetch a .sig; undefined if the server says 404 (or 410) and it is `optional`. */
function fetchSignature(
  ctx: SmallFetch,
  url: string,
  optional: false,
  what: string,
  signal?: AbortSignal,
): Promise<Uint8Array>;
function fetchSignature(
  ctx: SmallFetch,
  url: string,
  optional: boolean,
  what: string,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined>;
async function fetchSignature(
  ctx: SmallFetch,
  url: string,
  optional: boolean,
  what: string,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await fetchSmall(ctx, url, MAX_SIGNATURE_FILE_BYTES, 'SIGNATURE_MALFORMED', signal);
  } catch (err) {
    if (
      err instanceof KubesoloError &&
      err.code === TransportCode.HTTP_STATUS &&
      (err.details.status === 404 || err.details.status === 410)
    ) {
      if (optional) return undefined;
      throw new VerificationError(
        TransportCode.SIGNATURE_MISSING,
        `signature of ${what} not found at ${redactUrl(url)}`,
        { cause: err, details: { artifact: what, url: redactUrl(url) } },
      );
    }
    throw err;
  }
  try {
    return parseSignature(bytes);
  } catch (err) {
    if (err instanceof KubesoloError)
      Object.assign(err.details, { artifact: what, url: redactUrl(url) });
    throw err;
  }
}

export function createHttpUpdateSource(options: HttpUpdateSourceOptions): HttpUpdateSource {
  // No key and no allow_unsigned: refused before anything else (PUBKEY_REQUIRED).
  const trust = trustConfigFor(options, options.imageSignatures ?? 'when-unpinned');
  checkServerUrl(options.metadataUrl, 'metadata URL');
  const log = options.log;
  const clock = options.clock ?? systemClock;
  const { limits, dispatcher, close } = openSourceConnection(options);
  const ctx: SmallFetch = { dispatcher, limits, log };

  async function fetchRelease(signal?: AbortSignal): Promise<Release> {
    const url = options.metadataUrl;
    const bytes = await fetchSmall(ctx, url, MAX_METADATA_BYTES, 'METADATA_TOO_LARGE', signal);
    const metadata = parseReleaseMetadata(bytes, url, clock.now());
    // docs/design.md §3.4: the signed message is latest.json exactly as served.
    const sigUrl = metadata.metadataSigUrl ?? `${url}.sig`;
    const signature = wantsSignatures(trust)
      ? await fetchSignature(ctx, sigUrl, metadata.metadataSigUrl === undefined, 'metadata', signal)
      : undefined;
    const release = trustFetchedRelease(
      trust,
      {
        metadata,
        origin: redactUrl(url),
        signedMetadata: { bytes, signature },
        artifacts: perImage((name) => releaseArtifact(metadata.images[name])),
      },
      log,
    );
    log.info('release metadata', {
      version: metadata.version,
      channel: metadata.channel,
      ...signerLogFields(release),
    });
    return release;
  }

  // Typed by the interface it implements: its parameters are UpdateSource's.
  const stage: UpdateSource['stage'] = async (release, artifact, stageOptions) => {
    const spec = release.artifacts[artifact];
    const checks = await imageDownloadChecks(trust, release, artifact, (url) =>
      fetchSignature(ctx, url, false, artifact, stageOptions.signal),
    );
    return downloadArtifact(
      artifact,
      stageOptions,
      {
        url: spec.url,
        dispatcher,
        ...checks,
        limits,
        log,
      },
      {},
      spec.index,
    );
  };

  async function estimate(release: Release, artifact: ArtifactName, delta: DeltaOptions) {
    const spec = release.artifacts[artifact];
    const { estimateDownload } = await import('./delta/estimate.js');
    return estimateDownload({
      imageSha256: spec.sha256,
      imageSize: spec.size ?? 0,
      index: spec.size === undefined ? undefined : spec.index,
      delta,
      dispatcher,
      limits,
      log,
    });
  }

  return {
    fetchRelease,
    stage,
    estimate,
    close,
  };
}

/** An image of HTTP metadata: its URLs, digest and size as latest.json gives them. */
function releaseArtifact(image: ReleaseImage): ReleaseArtifact {
  return {
    url: image.url,
    sha256: image.sha256,
    ...(image.size === undefined ? {} : { size: image.size }),
    ...(image.signatureUrl === undefined ? {} : { signature: { url: image.signatureUrl } }),
    ...(image.index === undefined ? {} : { index: image.index }),
  };
}
