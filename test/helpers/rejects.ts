/**
 * The tests' one "rejects with this code" check: a KubesoloError with the stable
 * reason code and the exit code it maps to (docs/design.md §3.7). Each pair asserted is
 * recorded (code-record.ts) for the run's reason-code check.
 */
import { strict as assert } from 'node:assert';
import { KubesoloError } from '../../src/errors.js';
import { recordCode } from './code-record.js';

/** A validator for assert.throws / assert.rejects: `code` and `exitCode`, nothing else. */
export function hasCode(code: string, exitCode: number): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof KubesoloError, `expected ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.exitCode, exitCode);
    recordCode(exitCode, code);
    return true;
  };
}

/** `p` must reject with `code` and `exitCode`; the error is returned for further checks. */
export async function rejectsWithCode(
  p: Promise<unknown>,
  code: string,
  exitCode: number,
): Promise<KubesoloError> {
  try {
    await p;
  } catch (err) {
    hasCode(code, exitCode)(err);
    return err as KubesoloError;
  }
  assert.fail(`expected ${code}, but it did not reject`);
}

/** `fn` must throw a KubesoloError with `code` and `exitCode`; the error is returned. */
export function throwsWithCode(fn: () => unknown, code: string, exitCode: number): KubesoloError {
  try {
    fn();
  } catch (err) {
    hasCode(code, exitCode)(err);
    return err as KubesoloError;
  }
  assert.fail(`expected ${code}, but it did not throw`);
}

/**
 * A validator for assert.throws / assert.rejects where the test asserts the reason code
 * only (an error of a lower layer, or one whose exit is not the point): `code` must be
 * the error's; the exit code it carries, if any, is recorded with it.
 */
export function hasReason(code: string): (err: unknown) => true {
  return (err) => {
    const seen = err as { code?: unknown; exitCode?: unknown };
    assert.equal(seen?.code, code, String(err));
    recordCode(typeof seen.exitCode === 'number' ? seen.exitCode : undefined, code);
    return true;
  };
}
