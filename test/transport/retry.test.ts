import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { OperationError, VerificationError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { backoffDelay, withRetry } from '../../src/transport/retry.js';
import { isRetryable, redactUrl } from '../../src/transport/errors.js';
import { hasCode } from '../helpers/rejects.js';

describe('retry policy', () => {
  const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };

  it('backs off exponentially with equal jitter, capped', () => {
    // [attempt, the random draw, the delay]: 1 → 50..100, 3 → 200..400, capped at 1000.
    const cases = [
      [1, 0, 50],
      [1, 1, 100],
      [3, 0.5, 300],
      [10, 1, 1000],
    ] as const;
    for (const [attempt, draw, delay] of cases) {
      assert.equal(
        backoffDelay(policy, attempt, () => draw),
        delay,
        `attempt ${attempt}, ${draw}`,
      );
    }
  });

  it('retries only network conditions, 408, 429 and 5xx', () => {
    const status = (s: number): OperationError =>
      new OperationError('HTTP_STATUS', 'x', { details: { status: s } });
    assert.deepEqual(
      [408, 429, 500, 503, 404, 403, 416].map((s) => isRetryable(status(s))),
      [true, true, true, true, false, false, false],
    );
    assert.equal(isRetryable(new OperationError('NETWORK_ERROR', 'x')), true);
    assert.equal(
      isRetryable(new OperationError('DOWNLOAD_TIMEOUT', 'x', { details: { phase: 'deadline' } })),
      false,
    );
    assert.equal(isRetryable(new VerificationError('HASH_MISMATCH', 'x')), false);
  });

  it('stops at the attempt limit and returns the last error', async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        () => {
          calls++;
          return Promise.reject(new OperationError('NETWORK_ERROR', 'down'));
        },
        { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
        createLogger({ level: 'silent' }),
      ),
      hasCode('NETWORK_ERROR', 1),
    );
    assert.equal(calls, 3);
  });

  it('an abort during the backoff ends with DOWNLOAD_ABORTED', async () => {
    const ac = new AbortController();
    const p = withRetry(
      () => {
        setTimeout(() => ac.abort(), 5);
        return Promise.reject(new OperationError('NETWORK_ERROR', 'down'));
      },
      { attempts: 3, baseDelayMs: 10_000, maxDelayMs: 10_000 },
      createLogger({ level: 'silent' }),
      ac.signal,
    );
    await assert.rejects(p, hasCode('DOWNLOAD_ABORTED', 1));
  });

  it('redacts credentials and query strings from URLs in errors', () => {
    assert.equal(redactUrl('https://u:p@x.test/a?sig=secret'), 'https://x.test/a?…');
    assert.equal(redactUrl('::'), '(invalid url)');
  });
});
