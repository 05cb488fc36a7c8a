/**
 * The record of the reason codes the tests assert (issue 29). The assertion helpers
 * (rejects.ts, cli.ts `expectRefusal`, code-assert.ts) call recordCode with
 * every (exit code, reason code) pair they have just asserted; scripts/run-tests.mjs
 * sets KUBESOLO_CODE_RECORD to a fresh file for the run and, after a run of the whole
 * suite, compares the record with the codes defined in src/ (test/unit/reason-code-record.ts).
 * One JSON line per pair, appended (test files run in parallel processes; an append of
 * one short line is atomic). Without the variable (a test run by hand) nothing is kept.
 */
import { appendFileSync } from 'node:fs';

/** `exitCode` undefined: a code with no exit of its own (a health check's verdict reason). */
export function recordCode(exitCode: number | null | undefined, code: string): void {
  const file = process.env.KUBESOLO_CODE_RECORD;
  if (!file) return;
  appendFileSync(file, JSON.stringify({ exit: exitCode ?? null, code }) + '\n');
}
