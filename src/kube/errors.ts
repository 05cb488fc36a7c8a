/**
 * Errors of the Kubernetes API client. Codes are stable (docs/design.md §3.7) and are used
 * verbatim as health-check reason codes, so an operator reading `healthcheck --json`
 * sees `KUBE_TLS` rather than an OpenSSL string.
 */
import { OperationError, type KubesoloErrorOptions } from '../errors.js';

export const KUBE_ERROR_CODES = [
  /** Connection refused, reset, no route, DNS failure: nothing answered. */
  'KUBE_UNREACHABLE',
  /** The call did not complete within its timeout. */
  'KUBE_TIMEOUT',
  /** The server's certificate did not verify against the kubeconfig's CA, or TLS failed. */
  'KUBE_TLS',
  /** The server refused our credentials: HTTP 401/403, or a TLS alert about our client certificate. */
  'KUBE_AUTH',
  /** HTTP 404 for a named object. */
  'KUBE_NOT_FOUND',
  /** Any other non-2xx status. */
  'KUBE_HTTP_STATUS',
  /** A 2xx answer that is not the JSON object asked for. */
  'KUBE_BAD_RESPONSE',
  /** A body larger than the client accepts. */
  'KUBE_RESPONSE_TOO_LARGE',
] as const;
export type KubeErrorCode = (typeof KUBE_ERROR_CODES)[number];

/** A failed Kubernetes API call (exit 1 if it ever reaches the CLI uncaught). */
export class KubeError extends OperationError {
  override name = 'KubeError';
  declare readonly code: KubeErrorCode;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;

  constructor(
    code: KubeErrorCode,
    message: string,
    options: KubesoloErrorOptions & { status?: number } = {},
  ) {
    super(code, message, {
      ...options,
      details: {
        ...(options.details ?? {}),
        ...(options.status === undefined ? {} : { status: options.status }),
      },
    });
    this.status = options.status;
  }
}
