/**
 * The lifecycle's reason codes: the one list of the codes the agent refuses with or
 * records in state.json's `reason`, each with the exit code an operator (or a
 * CronJob) sees. docs/operating.md's table is this list written out; a test keeps
 * the two equal, and another fails when a code here has no test asserting it.
 *
 * Every code is one of src/reason-codes.ts (a key outside those lists does not compile);
 * this table adds, for the lifecycle's own contract, the exit code each one means.
 * Codes of narrower modules (metadata, transport, slots, health, ...) are not repeated
 * here.
 */
import {
  ExitCode,
  GateError,
  KubesoloError,
  OperationError,
  UsageError,
  VerificationError,
  type KubesoloErrorOptions,
} from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';

/** code → exit code; `null` for codes that are only recorded (never an exit). */
export const LIFECYCLE_REASONS = {
  OUTSIDE_MAINTENANCE_WINDOW: ExitCode.REFUSED,
  MAINTENANCE_WINDOW_ENDING: ExitCode.REFUSED,
  ACTIVATION_DEFERRED: ExitCode.REFUSED,
  STAGED_RELEASE_SUPERSEDED: ExitCode.REFUSED,
  HELD: ExitCode.REFUSED,
  ROLLOUT_NOT_OPEN: ExitCode.REFUSED,
  ROLLOUT_PAUSED: ExitCode.REFUSED,
  CHANNEL_MISMATCH: ExitCode.REFUSED,
  ARCH_MISMATCH: ExitCode.REFUSED,
  BOARD_INCOMPATIBLE: ExitCode.REFUSED,
  BOARD_IDENTITY_INVALID: ExitCode.REFUSED,
  VERSION_INCOMPATIBLE: ExitCode.REFUSED,
  DOWNGRADE_REFUSED: ExitCode.REFUSED,
  BELOW_FLOOR: ExitCode.REFUSED,
  QUARANTINED: ExitCode.REFUSED,
  VERIFICATION_BACKOFF: ExitCode.REFUSED,
  INSUFFICIENT_SPACE: ExitCode.REFUSED,
  NODE_UPDATE_BLOCKED: ExitCode.REFUSED,
  RUNNING_SLOT_UNKNOWN: ExitCode.REFUSED,
  RUNNING_VERSION_UNKNOWN: ExitCode.REFUSED,
  ACTIVATION_PENDING: ExitCode.REFUSED,
  ROLLBACK_PENDING: ExitCode.REFUSED,
  NOTHING_STAGED: ExitCode.REFUSED,
  NOTHING_ON_TRIAL: ExitCode.REFUSED,
  TRIAL_NOT_RUNNING: ExitCode.REFUSED,
  NOT_QUARANTINED: ExitCode.REFUSED,
  NO_ROLLBACK_TARGET: ExitCode.REFUSED,
  ROLLBACK_UNSAFE: ExitCode.REFUSED,
  BOOTENV_NOT_SETTLED: ExitCode.FAILED,
  TARGET_IS_RUNNING: ExitCode.FAILED,
  STAGED_DIGESTS_MISSING: ExitCode.VERIFICATION,
  SLOT_VERSION_MISMATCH: ExitCode.VERIFICATION,
  BOOT_FALLBACK: null,
  MANUAL_ROLLBACK: null,
  MARKED_BAD: null,
  LOCKED: ExitCode.FAILED,
  NO_UPDATE_SOURCE: ExitCode.USAGE,
} as const satisfies { [K in ReasonCode]?: ExitCode | null };

export type LifecycleReason = keyof typeof LIFECYCLE_REASONS;

/** Codes the lifecycle throws with (the recorded-only ones cannot be thrown). */
export type LifecycleRefusal = {
  [K in LifecycleReason]: (typeof LIFECYCLE_REASONS)[K] extends null ? never : K;
}[LifecycleReason];

/** The error for a lifecycle refusal, of the class its exit code belongs to. */
export function lifecycleError(
  code: LifecycleRefusal,
  message: string,
  options?: KubesoloErrorOptions,
): KubesoloError {
  const exit = LIFECYCLE_REASONS[code];
  switch (exit) {
    case ExitCode.REFUSED:
      return new GateError(code, message, options);
    case ExitCode.VERIFICATION:
      return new VerificationError(code, message, options);
    case ExitCode.USAGE:
      return new UsageError(code, message, options);
    default:
      return new OperationError(code, message, options);
  }
}
