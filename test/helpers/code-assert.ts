/**
 * Reason codes read from a value rather than thrown or printed on refusal: a code in a
 * JSON document (`status --json` problems, a refusal in a log line), a health verdict's
 * reason, a gate's verdict. The assertion is recorded like the others (code-record.ts)
 * for the run's reason-code check (issue 29).
 */
import { strict as assert } from 'node:assert';
import { recordCode } from './code-record.js';

/**
 * `actual` must be the reason code `code`. `exitCode`: the exit the code maps to when
 * the test knows it; leave it out for a code with no exit of its own (a verdict reason).
 */
export function assertCode<Code extends string>(
  actual: unknown,
  code: Code,
  exitCode?: number,
  message?: string,
): asserts actual is Code {
  assert.equal(actual, code, message);
  recordCode(exitCode, code);
}

/** `text` (a log or a message) must name `code`; the code is recorded. */
export function assertNamesCode(text: string, code: string, exitCode?: number): void {
  assert.ok(new RegExp(`\\b${code}\\b`).test(text), `expected ${code} in: ${text.slice(0, 2000)}`);
  recordCode(exitCode, code);
}
