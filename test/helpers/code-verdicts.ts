/**
 * Health check verdicts asserted as `verdict:REASON` strings (`pass:OK`,
 * `skipped:NOT_REQUIRED`, `fail:NODE_NOT_FOUND`; a check's name may stand before them,
 * `containerd:skipped:NOT_REQUIRED`, or the reason stand alone, `OK`): one, a list, or a
 * map by check name. The reason of
 * every expected verdict is recorded (code-record.ts) as a code with no exit of its own,
 * for the run's reason-code check (issue 29).
 */
import { strict as assert } from 'node:assert';
import { recordCode } from './code-record.js';

export type Verdicts = string | readonly string[] | Readonly<Record<string, string>>;

/** `actual` must deep-equal `expected`; each expected verdict's reason is recorded. */
export function assertVerdicts(actual: unknown, expected: Verdicts, message?: string): void {
  assert.deepEqual(actual, expected, message);
  const all: readonly string[] =
    typeof expected === 'string' ? [expected] : Object.values(expected);
  for (const verdict of all) {
    const reason = verdict.slice(verdict.lastIndexOf(':') + 1);
    assert.match(reason, /^[A-Z][A-Z0-9_]*$/, `no reason code at the end of ${verdict}`);
    recordCode(undefined, reason);
  }
}
