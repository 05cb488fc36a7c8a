/**
 * Retries with exponential backoff and jitter (issue #4: network errors, 408, 429 and
 * 5xx only). "Equal jitter": half the exponential delay is fixed, half random, so a
 * fleet that failed together does not retry together, yet no retry is immediate.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KubesoloError, OperationError, toKubesoloError } from '../errors.js';
import type { Logger } from '../log.js';
import { TransportCode, isRetryable } from './errors.js';

export interface RetryPolicy {
  /** Total attempts including the first (default 4). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 };

export function backoffDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** Run `fn` until it succeeds, fails with a non-retryable error, or attempts run out. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  log: Logger,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (raw) {
      const err: KubesoloError = toKubesoloError(raw);
      if (signal?.aborted) throw abortError(signal, err);
      if (attempt >= policy.attempts || !isRetryable(err)) throw err;
      const retryAfter = retryAfterMs(err);
      const delay = Math.min(policy.maxDelayMs, retryAfter ?? backoffDelay(policy, attempt));
      log.warn('transfer failed, retrying', {
        reason: err.code,
        error: err.message,
        attempt,
        of: policy.attempts,
        delay_ms: delay,
      });
      try {
        await sleep(delay, undefined, signal ? { signal } : undefined);
      } catch {
        throw abortError(signal, err);
      }
    }
  }
}

/** Retry-After in seconds (RFC 9110 §10.2.3), carried by HTTP_STATUS errors for 429/503. */
function retryAfterMs(err: KubesoloError): number | undefined {
  const value = err.details.retryAfter;
  if (typeof value !== 'string' || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

/** The reason our own timers put on the signal (deadline), or a plain abort. */
function abortError(signal: AbortSignal | undefined, cause: unknown): KubesoloError {
  const reason: unknown = signal?.reason;
  if (reason instanceof KubesoloError) return reason;
  return new OperationError(TransportCode.ABORTED, 'download aborted', { cause });
}
