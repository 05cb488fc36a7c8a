/**
 * One error type for the whole project. Every failure the agent reports carries a
 * stable SCREAMING_SNAKE `code` (docs/design.md §3.7), the exit code it maps to, and the
 * underlying `cause`. undici's UND_ERR_* codes are the model: callers branch on
 * `code`, never on message text. The codes are the lists of src/reason-codes.ts.
 */
import type { ReasonCode } from './reason-codes.js';

/** Process exit codes, docs/design.md §3.7. */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  REFUSED: 3,
  VERIFICATION: 4,
  HEALTH: 5,
  /** Stopped by SIGINT / SIGTERM: 128 + the signal number, as a shell reports it. */
  INTERRUPTED_SIGINT: 130,
  INTERRUPTED_SIGTERM: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface KubesoloErrorOptions {
  cause?: unknown;
  /** Extra structured fields for logs and --json output (file, line, key, url, ...). */
  details?: Record<string, unknown>;
}

/** The shape of a stable reason code (`code`): SCREAMING_SNAKE, at most 64 characters. */
export function isReasonCode(text: string): boolean {
  return /^[A-Z][A-Z0-9_]{0,63}$/.test(text);
}

/** Stands in for a reason that is not a code (or one too many) where the set must stay small. */
export const OTHER_REASON = 'OTHER';

export class KubesoloError extends Error {
  override name = 'KubesoloError';
  readonly code: ReasonCode;
  readonly exitCode: ExitCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ReasonCode,
    message: string,
    exitCode: ExitCode,
    options: KubesoloErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = exitCode;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, exitCode: this.exitCode, ...this.details };
  }
}

/**
 * The base of the subclasses below: each is a KubesoloError with one fixed exit code.
 * The class stays named for `instanceof` and `name`; only the constructor is shared.
 */
function withExitCode(name: string, exitCode: ExitCode) {
  return class extends KubesoloError {
    override name = name;
    constructor(code: ReasonCode, message: string, options?: KubesoloErrorOptions) {
      super(code, message, exitCode, options);
    }
  };
}

/** Bad command line or configuration: exit 2. */
export class UsageError extends withExitCode('UsageError', ExitCode.USAGE) {}

/** A configuration file or value that cannot be used: exit 2. */
export class ConfigError extends withExitCode('ConfigError', ExitCode.USAGE) {}

/** Refused by a gate or pre-flight check: exit 3. */
export class GateError extends withExitCode('GateError', ExitCode.REFUSED) {}

/** Checksum, signature, size limit, expired or malformed metadata: exit 4. */
export class VerificationError extends withExitCode('VerificationError', ExitCode.VERIFICATION) {}

/** A health check failed: exit 5. */
export class HealthCheckError extends withExitCode('HealthCheckError', ExitCode.HEALTH) {}

/** The operation failed (I/O, network, unexpected): exit 1. */
export class OperationError extends withExitCode('OperationError', ExitCode.FAILED) {}

/** The run was stopped by SIGINT or SIGTERM (recorded as reason INTERRUPTED). */
export class InterruptedError extends KubesoloError {
  override name = 'InterruptedError';
  constructor(signal: 'SIGINT' | 'SIGTERM', options?: KubesoloErrorOptions) {
    super(
      'INTERRUPTED',
      `interrupted by ${signal}`,
      signal === 'SIGINT' ? ExitCode.INTERRUPTED_SIGINT : ExitCode.INTERRUPTED_SIGTERM,
      { ...options, details: { signal, ...options?.details } },
    );
  }
}

/** Wrap anything thrown into a KubesoloError so reporting has one shape. */
export function toKubesoloError(err: unknown): KubesoloError {
  if (err instanceof KubesoloError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new OperationError('UNEXPECTED', message, { cause: err });
}

/** The errno code of a Node system error (ENOENT, ENOSPC, ...), if any. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/**
 * The options of an error that wraps a failed system call: the cause kept, and its errno
 * after the details that say what was being done (logs and --json show `errno`).
 */
export function ioFailure(err: unknown, details: Record<string, unknown>): KubesoloErrorOptions {
  return { cause: err, details: { ...details, errno: errnoCode(err) } };
}

/** An I/O failure (exit 1): an OperationError that keeps the cause and its errno. */
export function ioError(
  code: ReasonCode,
  message: string,
  err: unknown,
  details: Record<string, unknown>,
): OperationError {
  return new OperationError(code, message, ioFailure(err, details));
}
