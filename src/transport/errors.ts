/**
 * Transport failure codes. Each failure has its own stable code (docs/design.md §3.7) so logs,
 * state.json and tests can tell a stalled server from a hostile one. Size, hash and
 * signature failures are VerificationErrors (exit 4); network conditions are
 * OperationErrors (exit 1) and are the only ones retried.
 */
import { KubesoloError, OperationError, VerificationError, errnoCode } from '../errors.js';

export const TransportCode = {
  /** More bytes than declared (`*_size`) or than the configured cap. Exit 4. */
  TOO_LARGE: 'DOWNLOAD_TOO_LARGE',
  /** SHA-256 of the whole file differs from the metadata. Exit 4. */
  HASH_MISMATCH: 'HASH_MISMATCH',
  SIGNATURE_INVALID: 'SIGNATURE_INVALID',
  SIGNATURE_MISSING: 'SIGNATURE_MISSING',
  /** connect, response headers, body idle, or the overall deadline (details.phase). */
  TIMEOUT: 'DOWNLOAD_TIMEOUT',
  /** Average rate over the sliding window fell below the minimum. */
  TOO_SLOW: 'DOWNLOAD_TOO_SLOW',
  /** The connection closed before the body was complete (retried, resumable). */
  TRUNCATED: 'DOWNLOAD_TRUNCATED',
  /**
   * A complete response (Content-Length, Content-Range total, or a body that ended
   * cleanly) whose length disagrees with the size the metadata gives. Exit 4.
   */
  SIZE_MISMATCH: 'DOWNLOAD_SIZE_MISMATCH',
  /** A non-success HTTP status (details.status). */
  HTTP_STATUS: 'HTTP_STATUS',
  TOO_MANY_REDIRECTS: 'TOO_MANY_REDIRECTS',
  /** A redirect without a usable Location, or to a scheme other than http:/https:. */
  BAD_REDIRECT: 'BAD_REDIRECT',
  /** Connection refused/reset, DNS, TLS and other socket-level failures. */
  NETWORK: 'NETWORK_ERROR',
  /**
   * An https:// URL whose server answered in plain HTTP (OpenSSL's "wrong version
   * number"): a configuration mistake on one side, so it is said so and not retried.
   */
  TLS_PLAIN_HTTP_SERVER: 'TLS_PLAIN_HTTP_SERVER',
  /** The caller's AbortSignal fired. */
  ABORTED: 'DOWNLOAD_ABORTED',
  /** Writing the staging file failed (ENOSPC, EIO, ...). */
  STAGING_IO: 'STAGING_IO_ERROR',
} as const;

/** Codes worth another attempt: transient network conditions, never verification. */
const RETRYABLE = new Set<string>([
  TransportCode.TIMEOUT,
  TransportCode.TOO_SLOW,
  TransportCode.TRUNCATED,
  TransportCode.NETWORK,
]);

export function isRetryable(err: KubesoloError): boolean {
  if (err.code === TransportCode.TIMEOUT && err.details.phase === 'deadline') return false;
  if (err.code === TransportCode.HTTP_STATUS) {
    const status = err.details.status;
    // Issue #4: retry 408, 429 and 5xx only; other 4xx are answers, not accidents.
    return status === 408 || status === 429 || (typeof status === 'number' && status >= 500);
  }
  return RETRYABLE.has(err.code);
}

/** Whether a failure means the partial file is bad and must be deleted (never resumed). */
export function poisonsPartial(err: KubesoloError): boolean {
  return err instanceof VerificationError || err.code === TransportCode.STAGING_IO;
}

const TIMEOUT_CODES: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect',
  UND_ERR_HEADERS_TIMEOUT: 'headers',
  UND_ERR_BODY_TIMEOUT: 'body',
};

/**
 * Map whatever undici or the socket threw to a transport error. `abortReason` is the
 * error that our own timers or the caller put on the attempt's AbortSignal.
 */
export function toTransportError(err: unknown, url: string, abortReason?: unknown): KubesoloError {
  if (abortReason instanceof KubesoloError) return abortReason;
  if (err instanceof KubesoloError) return err;
  const code = errnoCode(err);
  const redacted = redactUrl(url);
  if (code !== undefined && code in TIMEOUT_CODES) {
    const phase = TIMEOUT_CODES[code];
    return new OperationError(
      TransportCode.TIMEOUT,
      `timed out waiting for ${phase}: ${redacted}`,
      {
        cause: err,
        details: { url: redacted, phase },
      },
    );
  }
  // The peer closed the connection mid-body (undici: "other side closed").
  if (
    code === 'UND_ERR_SOCKET' ||
    code === 'ECONNRESET' ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
  ) {
    return new OperationError(TransportCode.TRUNCATED, `connection closed early: ${redacted}`, {
      cause: err,
      details: { url: redacted, errno: code },
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (isPlainHttpAnswer(code, message)) {
    return new OperationError(
      TransportCode.TLS_PLAIN_HTTP_SERVER,
      `${redacted}: the server answered in plain HTTP: use http://, or enable TLS on the server`,
      { cause: err, details: { url: redacted, errno: code } },
    );
  }
  return new OperationError(TransportCode.NETWORK, `network error for ${redacted}: ${message}`, {
    cause: err,
    details: { url: redacted, errno: code },
  });
}

/**
 * A TLS handshake whose first answer is not a TLS record: OpenSSL reads the bytes of
 * "HTTP/1.1 400" as a record header with an impossible version. Node names it
 * ERR_SSL_WRONG_VERSION_NUMBER; older builds only say it in the message (EPROTO).
 */
function isPlainHttpAnswer(code: string | undefined, message: string): boolean {
  return code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /\bwrong version number\b/.test(message);
}

/** URLs in logs and errors never carry credentials or query strings (signed URLs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid url)';
  }
}
