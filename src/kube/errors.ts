/**
 * Errors of the Kubernetes API client. Codes are stable (docs/design.md §3.7) and are used
 * verbatim as health-check reason codes, so an operator reading `healthcheck --json`
 * sees `KUBE_TLS` rather than an OpenSSL string.
 */
import { OperationError, type KubesoloErrorOptions } from '../errors.js';
import type { KubeClientReasonCode } from '../reason-codes.js';

/** The client's codes: KUBE_CLIENT_CODES in src/reason-codes.ts, each with what it means. */
export type KubeErrorCode = KubeClientReasonCode;

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
