/**
 * A small client for the OCI distribution API (distribution-spec v1.1 "Pull" and
 * "Push" sections) with the three ways registries authenticate: none, HTTP Basic, and
 * the bearer-token challenge flow (distribution docs/spec/auth/token.md).
 *
 * It does one job: speak the registry protocol. Deciding what an artifact means, and
 * streaming large layers to disk, are elsewhere (artifact.ts, source.ts).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import { ConfigError, KubesoloError, OperationError, VerificationError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { basicAuthorization, parseWwwAuthenticate, type RegistryCredentials } from './auth.js';
import { INDEX_TYPES, MANIFEST_TYPES } from './media-types.js';
import { formatReference, isDigest, type RegistryReference } from './reference.js';

/** distribution-spec "Pulling manifests": registries SHOULD accept manifests up to 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024;
const MAX_ERROR_BODY_BYTES = 16 * 1024;
const MAX_REDIRECTS = 5;

export type Body = Buffer | string | Readable;

export interface OciClientOptions {
  ref: RegistryReference;
  credentials?: RegistryCredentials | undefined;
  /** undici dispatcher, e.g. an Agent trusting `ca_file`; default: the global one. */
  dispatcher?: Dispatcher | undefined;
  /** `pull` for the agent, `pull,push` for the publisher (token scope, token.md). */
  actions?: readonly ('pull' | 'push')[];
  log?: Logger | undefined;
  /** Per-request headers/body idle timeout (default 30 s). */
  timeoutMs?: number | undefined;
  /** Attempts for idempotent requests on network errors, 429 and 5xx (default 3). */
  attempts?: number | undefined;
  /** First retry delay, doubled each time (default 500 ms). */
  retryDelayMs?: number | undefined;
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

interface SendOptions {
  method: Dispatcher.HttpMethod;
  url: string;
  headers?: Record<string, string>;
  /** A factory so a request can be replayed after an auth challenge or a retry. */
  body?: () => Body;
  /** Retry on network errors / 429 / 5xx (idempotent requests only). */
  idempotent?: boolean;
  signal?: AbortSignal | undefined;
}

type Response = Dispatcher.ResponseData;

export function sha256Digest(bytes: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

function header(res: Response, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Drop a body we will not read; undici reports the abort as an error event, so swallow it. */
function discard(res: Response): void {
  res.body.on('error', () => undefined);
  res.body.destroy();
}

/** Read a response body, refusing more than `limit` bytes. */
export async function readLimited(
  res: Response,
  limit: number,
  onTooLarge: () => KubesoloError,
): Promise<Buffer> {
  const declared = Number(header(res, 'content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    discard(res);
    throw onTooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      discard(res);
      throw onTooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function drain(res: Response): Promise<void> {
  try {
    await res.body.dump({ limit: 64 * 1024 });
  } catch {
    // The connection is being discarded anyway.
  }
}

/** The `errors` array of a distribution-spec error body, as text for messages. */
async function errorSummary(res: Response): Promise<string> {
  try {
    const buf = await readLimited(res, MAX_ERROR_BODY_BYTES, () => new OperationError('X', 'x'));
    const doc = JSON.parse(buf.toString('utf8')) as {
      errors?: { code?: string; message?: string }[];
    };
    const parts = (doc.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': '));
    return parts.length > 0 ? parts.join('; ') : `HTTP ${res.statusCode}`;
  } catch {
    return `HTTP ${res.statusCode}`;
  }
}

function isTransientStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504 || status === 500;
}

export class OciClient {
  readonly ref: RegistryReference;
  private readonly credentials: RegistryCredentials | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly actions: readonly string[];
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly userAgent: string;
  /** The Authorization header that the registry accepted last (or will, once known). */
  private authorization: string | undefined;

  constructor(options: OciClientOptions) {
    this.ref = options.ref;
    this.credentials = options.credentials;
    this.dispatcher = options.dispatcher;
    this.actions = options.actions ?? ['pull'];
    this.log = options.log ?? silentLogger;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.userAgent = options.userAgent ?? 'kubesolo-update';
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

  /** One HTTP exchange with retries for transient failures (no auth handling). */
  private async exchange(opts: SendOptions, extra: Record<string, string>): Promise<Response> {
    const attempts = opts.idempotent ? this.attempts : 1;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await request(opts.url, {
          method: opts.method,
          headers: { 'user-agent': this.userAgent, ...opts.headers, ...extra },
          body: opts.body?.(),
          dispatcher: this.dispatcher,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          signal: opts.signal,
        });
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        if (attempt >= attempts) {
          throw new OperationError(
            'REGISTRY_UNREACHABLE',
            `registry request ${opts.method} ${opts.url} failed: ${(err as Error).message}`,
            { cause: err, details: { url: opts.url } },
          );
        }
        await this.backoff(attempt, opts, String((err as Error).message));
        continue;
      }
      if (isTransientStatus(res.statusCode) && attempt < attempts) {
        await drain(res);
        await this.backoff(attempt, opts, `HTTP ${res.statusCode}`);
        continue;
      }
      return res;
    }
  }

  private async backoff(attempt: number, opts: SendOptions, why: string): Promise<void> {
    const delay = this.retryDelayMs * 2 ** (attempt - 1);
    this.log.warn('registry request failed, retrying', {
      method: opts.method,
      url: opts.url,
      attempt,
      reason: why,
      delayMs: delay,
    });
    await sleep(delay, undefined, { signal: opts.signal });
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
      if (res.statusCode !== 401 || !own || round >= 1) {
        if (res.statusCode === 401) {
          await drain(res);
          throw this.unauthorized(opts.url);
        }
        return res;
      }
      const challenges = parseWwwAuthenticate(header(res, 'www-authenticate') ?? '');
      await drain(res);
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
      { details: { url } },
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
        client_id: this.userAgent,
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
      await drain(res);
      throw this.unauthorized(url.href);
    }
    if (res.statusCode !== 200) {
      const why = await errorSummary(res);
      throw new OperationError('REGISTRY_AUTH_FAILED_UPSTREAM', `token service: ${why}`, {
        details: { realm: url.origin, status: res.statusCode },
      });
    }
    const body = await readLimited(
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
    const details = { url, status: res.statusCode };
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
      await drain(res);
      throw new OperationError(
        'OCI_MANIFEST_NOT_FOUND',
        `${where} does not exist in the registry`,
        {
          details: { reference: where },
        },
      );
    }
    if (res.statusCode !== 200) await this.fail(res, `fetching ${where}`, url);
    const bytes = await readLimited(
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
    const contentType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    const mediaType = typeof field === 'string' ? field : contentType;
    return { mediaType, digest, bytes, json };
  }

  /**
   * HEAD a blob, following redirects by hand so the Authorization header never leaves
   * the registry's origin. Undefined when the registry does not have it.
   */
  async locateBlob(digest: string, signal?: AbortSignal): Promise<BlobLocation | undefined> {
    let url = this.apiUrl('blobs', digest);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.send({ method: 'HEAD', url, idempotent: true, signal });
      await drain(res);
      if (res.statusCode === 404) return undefined;
      if ([301, 302, 303, 307, 308].includes(res.statusCode)) {
        const loc = header(res, 'location');
        if (!loc) break;
        url = new URL(loc, url).href;
        continue;
      }
      if (res.statusCode !== 200) await this.fail(res, `checking blob ${digest}`, url);
      const length = Number(header(res, 'content-length'));
      const headers: Record<string, string> =
        this.sameOrigin(url) && this.authorization ? { authorization: this.authorization } : {};
      return { url, headers, size: Number.isFinite(length) ? length : undefined };
    }
    throw new OperationError('REGISTRY_ERROR', `too many redirects for blob ${digest}`, {
      details: { url },
    });
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
      await drain(res);
      throw this.blobMissing(digest);
    }
    if (res.statusCode !== 200) await this.fail(res, `fetching blob ${digest}`, loc.url);
    const bytes = await readLimited(
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

  // ---------------------------------------------------------------- push

  /** POST /v2/<name>/blobs/uploads/ → the upload session URL (spec "Pushing blobs"). */
  async startUpload(signal?: AbortSignal): Promise<string> {
    const url = `${this.ref.baseUrl}/v2/${this.ref.repository}/blobs/uploads/`;
    const res = await this.send({
      method: 'POST',
      url,
      headers: { 'content-length': '0' },
      signal,
    });
    if (res.statusCode !== 202) await this.fail(res, 'starting a blob upload', url);
    await drain(res);
    return this.location(res, url);
  }

  private location(res: Response, base: string): string {
    const loc = header(res, 'location');
    if (!loc) {
      throw new OperationError('REGISTRY_ERROR', 'registry sent no Location for the upload', {
        details: { url: base },
      });
    }
    return new URL(loc, base).href;
  }

  private withDigest(location: string, digest: string): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.href;
  }

  /** Monolithic upload: POST, then one PUT with the whole blob (spec "POST then PUT"). */
  async uploadMonolithic(
    digest: string,
    size: number,
    body: () => Body,
    signal?: AbortSignal,
  ): Promise<void> {
    const session = await this.startUpload(signal);
    const url = this.withDigest(session, digest);
    const res = await this.send({
      method: 'PUT',
      url,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      signal,
    });
    if (res.statusCode !== 201) await this.fail(res, `uploading blob ${digest}`, url);
    await drain(res);
  }

  /**
   * Chunked upload (spec "Pushing a blob in chunks"): PATCH each chunk with its
   * Content-Range, following the Location the registry returns, then PUT ?digest=.
   */
  async uploadChunked(
    digest: string,
    size: number,
    chunkSize: number,
    chunk: (start: number, end: number) => Body,
    signal?: AbortSignal,
  ): Promise<number> {
    let location = await this.startUpload(signal);
    let chunks = 0;
    for (let start = 0; start < size; start += chunkSize) {
      const end = Math.min(size, start + chunkSize);
      const res = await this.send({
        method: 'PATCH',
        url: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(end - start),
          // Inclusive byte range, without a unit (distribution-spec "Pushing a blob in chunks").
          'content-range': `${start}-${end - 1}`,
        },
        body: () => chunk(start, end),
        signal,
      });
      if (res.statusCode !== 202) await this.fail(res, `uploading a chunk of ${digest}`, location);
      await drain(res);
      location = this.location(res, location);
      chunks++;
    }
    const url = this.withDigest(location, digest);
    const res = await this.send({
      method: 'PUT',
      url,
      headers: { 'content-length': '0' },
      signal,
    });
    if (res.statusCode !== 201) await this.fail(res, `closing the upload of ${digest}`, url);
    await drain(res);
    return chunks;
  }

  /** PUT a manifest or index under a tag or digest; returns its digest. */
  async putManifest(
    reference: string,
    mediaType: string,
    bytes: Buffer,
    signal?: AbortSignal,
  ): Promise<string> {
    const url = this.apiUrl('manifests', reference);
    const res = await this.send({
      method: 'PUT',
      url,
      headers: { 'content-type': mediaType },
      body: () => bytes,
      idempotent: true,
      signal,
    });
    if (res.statusCode !== 201) await this.fail(res, `pushing manifest ${reference}`, url);
    await drain(res);
    return sha256Digest(bytes);
  }
}
