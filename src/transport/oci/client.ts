/**
 * A small client for the OCI distribution API (distribution-spec v1.1 "Pull") with
 * the three ways registries authenticate: none, HTTP Basic, and the bearer-token
 * challenge flow (distribution docs/spec/auth/token.md). Pushing (uploads, manifests)
 * is publisher code: src/release/oci-registry-push.ts, over this client's `send`.
 *
 * It does one job: speak the registry protocol, on the transport's one HTTP stack:
 * requests, redirects and bounded reads from ../http.ts, retries (jitter,
 * Retry-After, the retried statuses) from ../retry.ts, URLs in logs and errors
 * redacted as ../errors.ts requires. Deciding what an artifact means, and streaming
 * large layers to disk, are elsewhere (artifact.ts, source.ts).
 */
import { createHash } from 'node:crypto';
import { getGlobalDispatcher, type Dispatcher } from 'undici';
import { ConfigError, OperationError, VerificationError, toKubesoloError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { TransportCode, isRetryable, redactUrl } from '../errors.js';
import {
  discardBody,
  drainBody,
  headerValue,
  httpStatusError,
  openRequest,
  readBounded,
  type OpenResponse,
  type RequestBody,
} from '../http.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from '../retry.js';
import { basicAuthorization, parseWwwAuthenticate, type RegistryCredentials } from './auth.js';
import { INDEX_TYPES, MANIFEST_TYPES } from './media-types.js';
import { formatReference, isDigest, type RegistryReference } from './reference.js';
import { userAgent } from '../../version.js';

/** distribution-spec "Pulling manifests": registries SHOULD accept manifests up to 4 MiB. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024;
const MAX_ERROR_BODY_BYTES = 16 * 1024;

export type Body = RequestBody;

export interface OciClientOptions {
  ref: RegistryReference;
  credentials?: RegistryCredentials | undefined;
  /** undici dispatcher, e.g. an Agent trusting `ca_file`; default: the global one. */
  dispatcher?: Dispatcher | undefined;
  /** `pull` for the agent, `pull,push` for the publisher (token scope, token.md). */
  actions?: readonly ('pull' | 'push')[];
  log: Logger;
  /** Per-request headers/body idle timeout (default 30 s). */
  timeoutMs?: number | undefined;
  /**
   * Retries of idempotent requests (network errors, 408, 429, 5xx; ../retry.ts):
   * default that of the downloads.
   */
  retry?: RetryPolicy | undefined;
  userAgent?: string | undefined;
}

export interface FetchedManifest {
  /** The `mediaType` field, else the response Content-Type. */
  mediaType: string;
  /** sha256 of the exact bytes received. */
  digest: string;
  bytes: Buffer;
  json: unknown;
}

export interface BlobLocation {
  /** Final URL after redirects (a storage backend may serve the bytes). */
  url: string;
  /** Headers to send there: Authorization only when it is the registry's own origin. */
  headers: Record<string, string>;
  size: number | undefined;
}

export interface SendOptions {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  url: string;
  headers?: Record<string, string>;
  /** A factory so a request can be replayed after an auth challenge or a retry. */
  body?: () => Body;
  /** Retry on network errors / 408 / 429 / 5xx (idempotent requests only). */
  idempotent?: boolean;
  signal?: AbortSignal | undefined;
}

export type Response = OpenResponse;

export function sha256Digest(bytes: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** The `errors` array of a distribution-spec error body, as text for messages. */
async function errorSummary(res: Response): Promise<string> {
  try {
    const buf = await readBounded(
      res,
      MAX_ERROR_BODY_BYTES,
      () => new OperationError('REGISTRY_ERROR', 'x'),
    );
    const doc = JSON.parse(buf.toString('utf8')) as {
      errors?: { code?: string; message?: string }[];
    };
    const parts = (doc.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': '));
    return parts.length > 0 ? parts.join('; ') : `HTTP ${res.statusCode}`;
  } catch {
    return `HTTP ${res.statusCode}`;
  }
}

/** Transport failures that mean "the registry could not be reached" (after retries). */
const UNREACHABLE = new Set<string>([
  TransportCode.NETWORK,
  TransportCode.TIMEOUT,
  TransportCode.TRUNCATED,
]);

export class OciClient {
  readonly ref: RegistryReference;
  private readonly credentials: RegistryCredentials | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly actions: readonly string[];
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly userAgent: string;
  /** The Authorization header that the registry accepted last (or will, once known). */
  private authorization: string | undefined;

  constructor(options: OciClientOptions) {
    this.ref = options.ref;
    this.credentials = options.credentials;
    this.dispatcher = options.dispatcher ?? getGlobalDispatcher();
    this.actions = options.actions ?? ['pull'];
    this.log = options.log;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.userAgent = options.userAgent ?? userAgent();
    // A registry token from config.json is used directly, without a challenge round trip.
    if (this.credentials?.registryToken) {
      this.authorization = `Bearer ${this.credentials.registryToken}`;
    }
  }

  /** The Authorization header the registry accepted, for requests made elsewhere. */
  authHeaders(): Record<string, string> {
    return this.authorization ? { authorization: this.authorization } : {};
  }

  /** `/v2/<name>/<kind>/<ref>` as an absolute URL. */
  apiUrl(kind: 'manifests' | 'blobs', reference: string): string {
    return `${this.ref.baseUrl}/v2/${this.ref.repository}/${kind}/${reference}`;
  }

  private sameOrigin(url: string): boolean {
    return new URL(url).origin === new URL(this.ref.baseUrl).origin;
  }

  private scope(): string {
    return `repository:${this.ref.repository}:${this.actions.join(',')}`;
  }

  /**
   * One HTTP exchange (redirects followed for GET/HEAD, credentials dropped when they
   * leave the registry's origin) with the transport's retries for idempotent requests.
   * The last attempt's answer is returned whatever its status, so callers can say
   * what the registry said; network failures are REGISTRY_UNREACHABLE.
   */
  private async exchange(opts: SendOptions, extra: Record<string, string>): Promise<Response> {
    const policy = opts.idempotent ? this.retry : { ...this.retry, attempts: 1 };
    try {
      return await withRetry(
        async (attempt) => {
          const res = await openRequest(opts.url, {
            method: opts.method,
            dispatcher: this.dispatcher,
            headers: { 'user-agent': this.userAgent, ...opts.headers, ...extra },
            ...(opts.body ? { body: opts.body } : {}),
            headersTimeoutMs: this.timeoutMs,
            bodyTimeoutMs: this.timeoutMs,
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
          if (attempt < policy.attempts && res.statusCode >= 400) {
            const status = httpStatusError(res);
            if (isRetryable(status)) {
              discardBody(res.body);
              throw status;
            }
          }
          return res;
        },
        policy,
        this.log,
        opts.signal,
      );
    } catch (raw) {
      const err = toKubesoloError(raw);
      if (opts.signal?.aborted || !UNREACHABLE.has(err.code)) throw err;
      const why = err.cause instanceof Error ? err.cause.message : err.message;
      const url = redactUrl(opts.url);
      throw new OperationError(
        'REGISTRY_UNREACHABLE',
        `registry request ${opts.method} ${url} failed: ${why}`,
        { cause: err, details: { url } },
      );
    }
  }

  /**
   * Send a request to the registry, answering one 401 challenge: Basic with the
   * configured credentials, or Bearer by fetching a token from the realm. A second
   * 401 means the credentials (or the anonymous token) do not grant access.
   */
  async send(opts: SendOptions): Promise<Response> {
    const own = this.sameOrigin(opts.url);
    for (let round = 0; ; round++) {
      const extra: Record<string, string> =
        own && this.authorization ? { authorization: this.authorization } : {};
      const res = await this.exchange(opts, extra);
      // A challenge from another origin (a redirect target) is not ours to answer.
      if (res.statusCode !== 401 || !own || !this.sameOrigin(res.url) || round >= 1) {
        if (res.statusCode === 401) {
          await drainBody(res.body);
          throw this.unauthorized(res.url);
        }
        return res;
      }
      const challenges = parseWwwAuthenticate(headerValue(res.headers, 'www-authenticate') ?? '');
      await drainBody(res.body);
      this.authorization = await this.answer(challenges, opts.signal);
    }
  }

  private unauthorized(url: string): ConfigError {
    const c = this.credentials;
    const hasCreds =
      c !== undefined &&
      (c.username !== undefined || c.identityToken !== undefined || c.registryToken !== undefined);
    return new ConfigError(
      hasCreds ? 'REGISTRY_AUTH_FAILED' : 'REGISTRY_AUTH_REQUIRED',
      hasCreds
        ? `registry ${this.ref.host} rejected the configured credentials`
        : `registry ${this.ref.host} requires credentials (registry_username/registry_password or registry_auth_file)`,
      { details: { url: redactUrl(url) } },
    );
  }

  private async answer(challenges: ReturnType<typeof parseWwwAuthenticate>, signal?: AbortSignal) {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) return `Bearer ${await this.fetchToken(bearer.params, signal)}`;
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic) {
      const c = this.credentials;
      if (c?.username === undefined || c.password === undefined)
        throw this.unauthorized(this.ref.baseUrl);
      return basicAuthorization(c.username, c.password);
    }
    throw new OperationError(
      'REGISTRY_AUTH_UNSUPPORTED',
      `registry ${this.ref.host} asked for an unsupported authentication scheme`,
      { details: { challenge: challenges.map((c) => c.scheme).join(',') || '(none)' } },
    );
  }

  /**
   * The token flow (token.md "Requesting a Token"): GET realm?service=&scope= with
   * Basic credentials when we have them, anonymous otherwise; or the OAuth2 refresh
   * token grant (oauth.md) when config.json holds an identity token.
   */
  private async fetchToken(params: Record<string, string>, signal?: AbortSignal): Promise<string> {
    const realm = params.realm;
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch (err) {
      throw new OperationError('REGISTRY_AUTH_UNSUPPORTED', `bad token realm "${realm ?? ''}"`, {
        cause: err,
      });
    }
    // Never send credentials in clear text to a realm unless the operator chose plain
    // HTTP for the registry itself.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.ref.scheme === 'http')) {
      throw new OperationError(
        'REGISTRY_AUTH_UNSUPPORTED',
        `token realm ${url.origin} is not HTTPS`,
        { details: { realm: url.href } },
      );
    }
    const scopes = new Set<string>([this.scope()]);
    const service = params.service;
    const c = this.credentials;
    let res: Response;
    if (c?.identityToken) {
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: c.identityToken,
        // The tool's name, not its full User-Agent: token servers log client_id as given.
        client_id: this.userAgent.split('/')[0]!,
        scope: [...scopes].join(' '),
        ...(service ? { service } : {}),
      }).toString();
      res = await this.exchange(
        {
          method: 'POST',
          url: url.href,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: () => form,
          idempotent: true,
          signal,
        },
        {},
      );
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const auth: Record<string, string> =
        c?.username !== undefined && c.password !== undefined
          ? { authorization: basicAuthorization(c.username, c.password) }
          : {};
      res = await this.exchange({ method: 'GET', url: url.href, idempotent: true, signal }, auth);
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      await drainBody(res.body);
      throw this.unauthorized(url.href);
    }
    if (res.statusCode !== 200) {
      const why = await errorSummary(res);
      throw new OperationError('REGISTRY_AUTH_FAILED_UPSTREAM', `token service: ${why}`, {
        details: { realm: url.origin, status: res.statusCode },
      });
    }
    const body = await readBounded(
      res,
      MAX_TOKEN_RESPONSE_BYTES,
      () => new OperationError('REGISTRY_AUTH_FAILED_UPSTREAM', 'token response too large'),
    );
    let doc: { token?: unknown; access_token?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch (err) {
      throw new OperationError('REGISTRY_AUTH_FAILED_UPSTREAM', 'token response is not JSON', {
        cause: err,
      });
    }
    // token.md: `token` is the field; `access_token` is the OAuth2-compatible alias.
    const token = typeof doc.token === 'string' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new OperationError('REGISTRY_AUTH_FAILED_UPSTREAM', 'token response has no token');
    }
    this.log.debug('registry token obtained', { realm: url.origin, scope: [...scopes].join(' ') });
    return token;
  }

  /** Fail with a useful code for a non-success status. */
  async fail(res: Response, what: string, url: string): Promise<never> {
    const why = await errorSummary(res);
    const details = { url: redactUrl(url), status: res.statusCode };
    if (res.statusCode === 403) {
      throw new ConfigError('REGISTRY_DENIED', `${what}: access denied (${why})`, { details });
    }
    throw new OperationError('REGISTRY_ERROR', `${what}: ${why}`, { details });
  }

  // ---------------------------------------------------------------- pull

  /**
   * GET a manifest or index by tag or digest (distribution-spec "Pulling manifests"),
   * bounded at 4 MiB, its digest computed over the exact bytes received.
   */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const url = this.apiUrl('manifests', reference);
    const where = formatReference(this.ref, reference);
    const res = await this.send({
      method: 'GET',
      url,
      headers: { accept: [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ') },
      idempotent: true,
      signal,
    });
    if (res.statusCode === 404) {
      await drainBody(res.body);
      throw new OperationError(
        'OCI_MANIFEST_NOT_FOUND',
        `${where} does not exist in the registry`,
        {
          details: { reference: where },
        },
      );
    }
    if (res.statusCode !== 200) await this.fail(res, `fetching ${where}`, url);
    const bytes = await readBounded(
      res,
      MAX_MANIFEST_BYTES,
      () =>
        new VerificationError('OCI_MANIFEST_TOO_LARGE', `${where}: manifest larger than 4 MiB`, {
          details: { reference: where },
        }),
    );
    const digest = sha256Digest(bytes);
    // A manifest fetched by digest is content-addressed: the bytes must hash to it.
    if (isDigest(reference) && digest !== reference) {
      throw new VerificationError(
        'OCI_DIGEST_MISMATCH',
        `${where}: manifest bytes hash to ${digest}`,
        { details: { reference: where, expected: reference, actual: digest } },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new VerificationError('OCI_MANIFEST_INVALID', `${where}: manifest is not JSON`, {
        cause: err,
        details: { reference: where },
      });
    }
    const field =
      typeof json === 'object' && json !== null && 'mediaType' in json
        ? (json as { mediaType?: unknown }).mediaType
        : undefined;
    const contentType = (headerValue(res.headers, 'content-type') ?? '').split(';')[0]!.trim();
    const mediaType = typeof field === 'string' ? field : contentType;
    return { mediaType, digest, bytes, json };
  }

  /**
   * HEAD a blob, following redirects (../http.ts drops the Authorization header when
   * one leaves the registry's origin). Undefined when the registry does not have it.
   */
  async locateBlob(digest: string, signal?: AbortSignal): Promise<BlobLocation | undefined> {
    const url = this.apiUrl('blobs', digest);
    const res = await this.send({ method: 'HEAD', url, idempotent: true, signal });
    if (res.statusCode === 404) {
      await drainBody(res.body);
      return undefined;
    }
    if (res.statusCode !== 200) await this.fail(res, `checking blob ${digest}`, res.url);
    await drainBody(res.body);
    const length = Number(headerValue(res.headers, 'content-length'));
    const headers: Record<string, string> =
      this.sameOrigin(res.url) && this.authorization ? { authorization: this.authorization } : {};
    return { url: res.url, headers, size: Number.isFinite(length) ? length : undefined };
  }

  /** GET a small blob into memory, bounded, verifying its digest. */
  async getSmallBlob(digest: string, limit: number, signal?: AbortSignal): Promise<Buffer> {
    const loc = await this.locateBlob(digest, signal);
    if (!loc) throw this.blobMissing(digest);
    const res = await this.send({
      method: 'GET',
      url: loc.url,
      headers: loc.headers,
      idempotent: true,
      signal,
    });
    if (res.statusCode === 404) {
      await drainBody(res.body);
      throw this.blobMissing(digest);
    }
    if (res.statusCode !== 200) await this.fail(res, `fetching blob ${digest}`, loc.url);
    const bytes = await readBounded(
      res,
      limit,
      () =>
        new VerificationError(
          'SIZE_LIMIT_EXCEEDED',
          `blob ${digest} is larger than ${limit} bytes`,
          {
            details: { digest, limit },
          },
        ),
    );
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new VerificationError('OCI_DIGEST_MISMATCH', `blob ${digest} hashes to ${actual}`, {
        details: { expected: digest, actual },
      });
    }
    return bytes;
  }

  blobMissing(digest: string): OperationError {
    return new OperationError(
      'OCI_BLOB_NOT_FOUND',
      `${formatReference(this.ref)}: layer ${digest} is missing from the registry`,
      { details: { digest } },
    );
  }

  /** The Location of a response (upload sessions), absolute. */
  location(res: Response, base: string): string {
    const loc = headerValue(res.headers, 'location');
    if (!loc) {
      throw new OperationError('REGISTRY_ERROR', 'registry sent no Location for the upload', {
        details: { url: redactUrl(base) },
      });
    }
    return new URL(loc, base).href;
  }
}
