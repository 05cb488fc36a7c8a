/**
 * One byte range of a published image, fetched with one single-range request (RFC 9110
 * §14.2; S3 and CloudFront serve no multipart ranges) and held to what was asked:
 * a 206 whose Content-Range is exactly the range of a file of the image's size, a
 * Content-Length of the range's length, and a body of that length. A server that
 * answers 200 ignores Range (DELTA_RANGE_UNSUPPORTED); one that answers another range,
 * another file or more bytes than asked is refused (DELTA_RANGE_MISMATCH). Both make
 * the caller fall back to one full download (./stage.ts). A body that ends early is a
 * truncated transfer and is retried, as every download is.
 */
import type { Dispatcher } from 'undici';
import { OperationError, VerificationError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { TransportCode, redactUrl, toTransportError } from '../errors.js';
import { discardBody, headerValue, httpStatusError, openRequest } from '../http.js';
import { withRetry } from '../retry.js';
import type { DownloadLimits } from '../download/transfer.js';

export interface RangeContext {
  url: string;
  /** The image's size: every Content-Range must name it as the file's length. */
  imageSize: number;
  dispatcher: Dispatcher;
  limits: DownloadLimits;
  log: Logger;
  /** Extra request headers (registry credentials); dropped on cross-origin redirects. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Called with every body byte count received (bytes on the wire, for the counters). */
  onBytes?: (n: number) => void;
}

function mismatch(
  url: string,
  message: string,
  details: Record<string, unknown>,
): VerificationError {
  return new VerificationError('DELTA_RANGE_MISMATCH', `${url}: ${message}`, {
    details: { url, ...details },
  });
}

/** bytes [start, end) of the image, exactly. */
export function fetchRange(ctx: RangeContext, start: number, end: number): Promise<Buffer> {
  return withRetry(() => fetchOnce(ctx, start, end), ctx.limits.retry, ctx.log, ctx.signal);
}

async function fetchOnce(ctx: RangeContext, start: number, end: number): Promise<Buffer> {
  const want = end - start;
  const response = await openRequest(ctx.url, {
    dispatcher: ctx.dispatcher,
    headers: {
      ...(ctx.headers ?? {}),
      'accept-encoding': 'identity',
      range: `bytes=${start}-${end - 1}`,
    },
    maxRedirects: ctx.limits.maxRedirects,
    headersTimeoutMs: ctx.limits.headersTimeoutMs,
    bodyTimeoutMs: ctx.limits.idleTimeoutMs,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const url = redactUrl(response.url);
  if (response.statusCode === 200) {
    // The whole file is coming: not read, the caller fetches it once instead.
    discardBody(response.body);
    throw new VerificationError('DELTA_RANGE_UNSUPPORTED', `${url} ignores Range requests`, {
      details: { url, status: 200 },
    });
  }
  if (response.statusCode !== 206) {
    discardBody(response.body);
    throw httpStatusError(response);
  }
  const contentRange = headerValue(response.headers, 'content-range') ?? '';
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange.trim());
  if (
    m === null ||
    Number(m[1]) !== start ||
    Number(m[2]) !== end - 1 ||
    Number(m[3]) !== ctx.imageSize
  ) {
    discardBody(response.body);
    throw mismatch(url, `answered "${contentRange.slice(0, 80)}" to bytes=${start}-${end - 1}`, {
      asked: `bytes ${start}-${end - 1}/${ctx.imageSize}`,
      contentRange: contentRange.slice(0, 80),
    });
  }
  const declared = headerValue(response.headers, 'content-length');
  if (declared !== undefined && Number(declared) !== want) {
    discardBody(response.body);
    throw mismatch(url, `declares ${declared} bytes for a range of ${want}`, {
      declared,
      expected: want,
    });
  }
  const body = Buffer.allocUnsafe(want);
  let got = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      ctx.onBytes?.(chunk.length);
      if (got + chunk.length > want) {
        discardBody(response.body);
        throw mismatch(url, `sent more than the ${want} bytes asked`, { expected: want });
      }
      chunk.copy(body, got);
      got += chunk.length;
    }
  } catch (err) {
    if (err instanceof VerificationError) throw err;
    throw toTransportError(err, response.url, ctx.signal?.reason);
  }
  if (got < want) {
    throw new OperationError(TransportCode.TRUNCATED, `body of ${url} ended early`, {
      details: { url, received: got, expected: want },
    });
  }
  return body;
}
