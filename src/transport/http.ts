/**
 * One HTTP exchange with redirects, timeouts and error mapping, on top of undici's
 * `request`: the one HTTP stack of the HTTP source, the downloads and the OCI client.
 * Redirects are followed here rather than by an undici interceptor so the limit has
 * its own reason code and so credentials never follow a redirect to another origin (a
 * registry redirecting a blob to object storage must not receive the registry's
 * Authorization header).
 */
import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { KubesoloError, OperationError, VerificationError } from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';
import { userAgent } from '../version.js';
import { TransportCode, redactUrl, toTransportError } from './errors.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export type RequestBody = Buffer | string | Readable;

export interface OpenOptions {
  dispatcher: Dispatcher;
  /**
   * Default GET. Redirects are followed for GET and HEAD only; for the others (OCI
   * uploads, token requests) a 3xx answer is returned to the caller as it is.
   */
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  /** A factory, so that each attempt sends the body afresh. */
  body?: () => RequestBody;
  headers?: Record<string, string>;
  /** Redirects followed before TOO_MANY_REDIRECTS (default 5). */
  maxRedirects?: number;
  /** Time to wait for response headers (ms). */
  headersTimeoutMs?: number;
  /** Longest silence between body chunks (ms). */
  bodyTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface OpenResponse {
  /** The URL that answered (after redirects). */
  url: string;
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/**
 * Drop a response body we will not read. undici's body emits an 'error' when
 * destroyed mid-stream; with no listener that would crash the process.
 */
export function discardBody(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

export function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Read what is left of a body we will not use, up to 64 KiB, so the connection can be
 * reused (a longer body is cut off and its connection closed).
 */
export async function drainBody(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump({ limit: 64 * 1024 });
  } catch {
    // The connection is being discarded anyway.
  }
}

/**
 * A non-success status as HTTP_STATUS (details.status, the redacted URL, and
 * Retry-After when the server sent one, which withRetry honours).
 */
export function httpStatusError(response: OpenResponse): OperationError {
  const retryAfter = headerValue(response.headers, 'retry-after');
  return new OperationError(
    TransportCode.HTTP_STATUS,
    `HTTP ${response.statusCode} for ${redactUrl(response.url)}`,
    {
      details: {
        status: response.statusCode,
        url: redactUrl(response.url),
        ...(retryAfter ? { retryAfter } : {}),
      },
    },
  );
}

/** `url`, following redirects (GET, HEAD). Returns any final status; callers check it. */
export async function openRequest(url: string, options: OpenOptions): Promise<OpenResponse> {
  const method = options.method ?? 'GET';
  const follows = method === 'GET' || method === 'HEAD';
  const maxRedirects = options.maxRedirects ?? 5;
  let current = url;
  let headers = withUserAgent(options.headers ?? {});
  for (let hop = 0; ; hop++) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(current, {
        method,
        dispatcher: options.dispatcher,
        headers,
        ...(options.body ? { body: options.body() } : {}),
        headersTimeout: options.headersTimeoutMs ?? 30_000,
        bodyTimeout: options.bodyTimeoutMs ?? 60_000,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      throw toTransportError(err, current, options.signal?.reason);
    }
    const location = headerValue(response.headers, 'location');
    if (!follows || !REDIRECTS.has(response.statusCode) || location === undefined) {
      return {
        url: current,
        statusCode: response.statusCode,
        headers: response.headers,
        body: response.body,
      };
    }
    // Discard the redirect's body without reading an unbounded amount of it.
    discardBody(response.body);
    if (hop >= maxRedirects) {
      throw new OperationError(
        TransportCode.TOO_MANY_REDIRECTS,
        `more than ${maxRedirects} redirects starting at ${redactUrl(url)}`,
        { details: { url: redactUrl(url), limit: maxRedirects } },
      );
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new OperationError(TransportCode.BAD_REDIRECT, `invalid redirect Location`, {
        details: { url: redactUrl(current) },
      });
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new OperationError(TransportCode.BAD_REDIRECT, `redirect to a non-HTTP URL refused`, {
        details: { url: redactUrl(current), protocol: next.protocol },
      });
    }
    if (next.origin !== new URL(current).origin) headers = withoutCredentials(headers);
    current = next.href;
  }
}

/** The caller's headers, with the agent's User-Agent unless the caller names one. */
function withUserAgent(headers: Record<string, string>): Record<string, string> {
  const named = Object.keys(headers).some((k) => k.toLowerCase() === 'user-agent');
  return named ? { ...headers } : { 'user-agent': userAgent(), ...headers };
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (key !== 'authorization' && key !== 'cookie') out[k] = v;
  }
  return out;
}

export interface FetchBytesOptions extends OpenOptions {
  /** Bytes beyond this are refused with `tooLargeCode` (reading stops one byte past it). */
  maxBytes: number;
  tooLargeCode?: ReasonCode;
}

/**
 * GET a small resource fully into memory (metadata, signatures), refusing anything
 * larger than `maxBytes`. Non-2xx statuses throw HTTP_STATUS with details.status.
 */
export async function fetchBytes(url: string, options: FetchBytesOptions): Promise<Uint8Array> {
  const response = await openRequest(url, options);
  const redacted = redactUrl(response.url);
  if (response.statusCode < 200 || response.statusCode > 299) {
    discardBody(response.body);
    throw new OperationError(
      TransportCode.HTTP_STATUS,
      `HTTP ${response.statusCode} for ${redacted}`,
      { details: { status: response.statusCode, url: redacted } },
    );
  }
  // A size limit is a verification failure (docs/design.md §3.7, exit 4), not a network one.
  const tooLarge = (): VerificationError =>
    new VerificationError(
      options.tooLargeCode ?? TransportCode.TOO_LARGE,
      `response from ${redacted} is larger than ${options.maxBytes} bytes`,
      { details: { url: redacted, limit: options.maxBytes } },
    );
  return new Uint8Array(await readBounded(response, options.maxBytes, tooLarge, options.signal));
}

/**
 * Read a whole response body into memory, refusing more than `maxBytes` with
 * `tooLarge()` (a declared Content-Length is refused before reading; reading stops
 * one chunk past the limit). Socket failures map to transport codes.
 */
export async function readBounded(
  response: OpenResponse,
  maxBytes: number,
  tooLarge: () => KubesoloError,
  signal?: AbortSignal,
): Promise<Buffer> {
  const declared = Number(headerValue(response.headers, 'content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    discardBody(response.body);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        discardBody(response.body);
        throw tooLarge();
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw toTransportError(err, response.url, signal?.reason);
  }
  return Buffer.concat(chunks, total);
}
