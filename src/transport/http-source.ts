/**
 * UpdateSource over plain HTTP(S): latest.json plus the files it names (docs/design.md §3.3),
 * with the trust policy of docs/design.md §3.4 applied before anything reaches the lifecycle.
 *
 * Trust policy, fail-closed, when a public key is configured (docs/transport.md
 * "Trust model"):
 * - the metadata signature (`metadata_sig_url`, else `<metadata URL>.sig`) is required,
 *   unless allowUnsignedMetadata, in which case both image signatures are required;
 * - signed metadata pins every image (SHA-256, size): image signatures are then not
 *   fetched (imageSignatures `when-unpinned`, the agent) or must verify (`always`);
 * - expired metadata is refused (parser).
 * Without a key, images are checked against the metadata's SHA-256 and sizes only,
 * which protects against corruption but not against a hostile server.
 */
import type { KeyObject } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, KubesoloError, VerificationError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import { MAX_SIGNATURE_FILE_BYTES, parseSignature, publicKeyBytes } from '../crypto/keys.js';
import { MAX_METADATA_BYTES, parseReleaseMetadata } from '../metadata/parse.js';
import type { ReleaseMetadata } from '../metadata/types.js';
import { createDispatcher } from './dispatcher.js';
import { DEFAULT_DOWNLOAD_LIMITS, type DownloadLimits } from './download.js';
import { TransportCode, redactUrl } from './errors.js';
import { fetchBytes } from './http.js';
import { withRetry } from './retry.js';
import {
  checksImageSignature,
  downloadArtifact,
  type ArtifactName,
  type ImageSignaturePolicy,
  type Release,
  type StageOptions,
  type StagedArtifact,
  type UpdateSource,
} from './source.js';

export interface TransportLimits extends DownloadLimits {
  /** TCP + TLS connect timeout (ms). */
  connectTimeoutMs: number;
}

export interface HttpUpdateSourceOptions {
  /** URL of latest.json (http: or https:, no credentials). */
  metadataUrl: string;
  /** Ed25519 public key; when set, the trust policy above applies. */
  publicKey?: KeyObject | Uint8Array;
  /** `allow_unsigned_metadata`: accept unsigned latest.json if both images are signed. */
  allowUnsignedMetadata?: boolean;
  /** When image signatures are checked (default `when-unpinned`). */
  imageSignatures?: ImageSignaturePolicy;
  /** Extra CA bundle (PEM) for a private HTTPS server (`ca_file`). */
  caFile?: string;
  log?: Logger;
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

export function checkServerUrl(url: string, what = 'server URL'): URL {
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

export function createHttpUpdateSource(options: HttpUpdateSourceOptions): HttpUpdateSource {
  checkServerUrl(options.metadataUrl, 'metadata URL');
  const log = options.log ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const limits: TransportLimits = {
    ...DEFAULT_DOWNLOAD_LIMITS,
    connectTimeoutMs: 30_000,
    ...(options.limits ?? {}),
  };
  const key = options.publicKey === undefined ? undefined : publicKeyBytes(options.publicKey);
  const imageSignatures = options.imageSignatures ?? 'when-unpinned';
  const ownDispatcher = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    createDispatcher({
      connectTimeoutMs: limits.connectTimeoutMs,
      ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
  const small = {
    dispatcher,
    maxRedirects: limits.maxRedirects,
    headersTimeoutMs: limits.headersTimeoutMs,
    bodyTimeoutMs: limits.idleTimeoutMs,
  };

  /** Fetch a .sig; undefined if the server says 404 and `optional`. */
  async function fetchSignature(
    url: string,
    optional: boolean,
    what: string,
    signal?: AbortSignal,
  ): Promise<Uint8Array | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await withRetry(
        () =>
          fetchBytes(url, {
            ...small,
            maxBytes: MAX_SIGNATURE_FILE_BYTES,
            tooLargeCode: 'SIGNATURE_MALFORMED',
            ...(signal ? { signal } : {}),
          }),
        limits.retry,
        log,
        signal,
      );
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
          {
            cause: err,
            details: { artifact: what, url: redactUrl(url) },
          },
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

  async function fetchRelease(signal?: AbortSignal): Promise<Release> {
    const url = options.metadataUrl;
    const bytes = await withRetry(
      () =>
        fetchBytes(url, {
          ...small,
          maxBytes: MAX_METADATA_BYTES,
          tooLargeCode: 'METADATA_TOO_LARGE',
          ...(signal ? { signal } : {}),
        }),
      limits.retry,
      log,
      signal,
    );
    const metadata = parseReleaseMetadata(bytes, url, clock.now());
    let metadataSigned = false;
    if (key === undefined) {
      log.info('no public key configured: images are checked by SHA-256 only, not authenticated', {
        url: redactUrl(url),
      });
    } else {
      // docs/design.md §3.4: the signed message is latest.json exactly as served.
      const sigUrl = metadata.metadataSigUrl ?? `${url}.sig`;
      const explicit = metadata.metadataSigUrl !== undefined;
      const sig = await fetchSignature(sigUrl, !explicit, 'metadata', signal);
      if (sig !== undefined) {
        if (!verifyEd25519(bytes, sig, key)) {
          throw new VerificationError(
            TransportCode.SIGNATURE_INVALID,
            'latest.json signature does not verify with the configured key',
            {
              details: { artifact: 'metadata', url: redactUrl(sigUrl) },
            },
          );
        }
        metadataSigned = true;
      } else if (options.allowUnsignedMetadata === true) {
        log.warn(
          'latest.json is unsigned; allowed by allow_unsigned_metadata, both image signatures are now required',
          {
            url: redactUrl(url),
          },
        );
      } else {
        throw new VerificationError(
          TransportCode.SIGNATURE_MISSING,
          'latest.json is not signed and a public key is configured',
          {
            details: {
              artifact: 'metadata',
              url: redactUrl(sigUrl),
              hint: 'sign it, or set allow_unsigned_metadata=true',
            },
          },
        );
      }
    }
    log.info('release metadata', {
      version: metadata.version,
      channel: metadata.channel,
      signed: metadataSigned,
    });
    return { metadata, metadataSigned, origin: redactUrl(url) };
  }

  async function stage(
    release: Release,
    artifact: ArtifactName,
    stageOptions: StageOptions,
  ): Promise<StagedArtifact> {
    const m = release.metadata;
    const spec = artifactSpec(m, artifact);
    let signature: { signature: Uint8Array; publicKey: Uint8Array } | undefined;
    if (key !== undefined && checksImageSignature(release, imageSignatures)) {
      if (spec.sigUrl !== undefined) {
        const sig = await fetchSignature(spec.sigUrl, false, artifact, stageOptions.signal);
        if (sig !== undefined) signature = { signature: sig, publicKey: key };
      } else if (!release.metadataSigned) {
        // docs/design.md §3.4: with unsigned metadata nothing vouches for the hash, so the
        // image itself must be signed.
        throw new VerificationError(
          TransportCode.SIGNATURE_MISSING,
          `${artifact} has no signature and latest.json is unsigned`,
          {
            details: { artifact },
          },
        );
      }
    }
    return downloadArtifact(artifact, stageOptions, {
      url: spec.url,
      dispatcher,
      expectedSha256: spec.sha256,
      ...(spec.size === undefined ? {} : { expectedSize: spec.size }),
      ...(signature === undefined ? {} : { signature }),
      limits,
      log,
    });
  }

  return {
    fetchRelease,
    stage,
    async close() {
      if (ownDispatcher) await dispatcher.close();
    },
  };
}

function artifactSpec(
  m: ReleaseMetadata,
  artifact: ArtifactName,
): { url: string; sha256: string; size?: number; sigUrl?: string } {
  return artifact === 'vmlinuz'
    ? {
        url: m.vmlinuzUrl,
        sha256: m.vmlinuzSha256,
        ...(m.vmlinuzSize === undefined ? {} : { size: m.vmlinuzSize }),
        ...(m.vmlinuzSigUrl === undefined ? {} : { sigUrl: m.vmlinuzSigUrl }),
      }
    : {
        url: m.initramfsUrl,
        sha256: m.initramfsSha256,
        ...(m.initramfsSize === undefined ? {} : { size: m.initramfsSize }),
        ...(m.initramfsSigUrl === undefined ? {} : { sigUrl: m.initramfsSigUrl }),
      };
}
