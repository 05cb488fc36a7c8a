/**
 * A reason code carried by a log line: a warning the command goes on after, or an error
 * logged beside the outcome it reports. The line is found by its `code` field (not by a
 * match anywhere in the text) and returned for checks of its other fields; the code is
 * recorded (code-record.ts) for the run's reason-code check (issue 29).
 */
import { strict as assert } from 'node:assert';
import { logLines } from './cli.js';
import { recordCode } from './code-record.js';

/**
 * The first log line whose `code` is `code`. `logs`: a command's stderr (JSON lines) or
 * lines already parsed. `exitCode`: the exit the code maps to when the test knows it;
 * leave it out for a warning, which names no exit.
 */
export function loggedLine(
  logs: string | readonly Record<string, unknown>[],
  code: string,
  exitCode?: number,
): Record<string, unknown> {
  const lines = typeof logs === 'string' ? logLines(logs) : logs;
  const line = lines.find((l) => l.code === code);
  const shown = typeof logs === 'string' ? logs : JSON.stringify(logs);
  assert.ok(line, `expected a log line with code ${code}: ${shown.slice(0, 2000)}`);
  recordCode(exitCode, code);
  return line;
}
