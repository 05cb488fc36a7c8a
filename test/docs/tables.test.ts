/**
 * The tables the docs give as contracts are the code's tables, both ways (nothing
 * missing, nothing extra): the update.conf keys of docs/configuration.md and
 * src/config/keys.ts's KEY_TABLE; the exit codes of docs/design.md §3.7 and
 * docs/operating.md "Exit codes" and src/errors.ts's ExitCode (which every error class
 * takes its exit code from); the lifecycle reason codes of docs/operating.md and
 * src/agent/reasons.ts, with their exit codes.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LIFECYCLE_REASONS } from '../../src/agent/reasons.js';
import { KEY_TABLE } from '../../src/config/keys.js';
import {
  ConfigError,
  ExitCode,
  GateError,
  HealthCheckError,
  InterruptedError,
  OperationError,
  UsageError,
  VerificationError,
} from '../../src/errors.js';

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** The text of the section that starts with `heading` (a whole line), up to the next one of its level or above. */
function section(text: string, heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const lines = text.split('\n');
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `no section '${heading}'`);
  const end = lines.findIndex(
    (l, i) => i > start && /^#+ /.test(l) && /^#+/.exec(l)![0].length <= level,
  );
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The first cells of a section's table rows (header and rule lines left out). */
function firstCells(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| ---'))
    .map((l) => l.split(' | ')[0]!.replace(/^\| /, '').trim());
}

/** The same list once each, sorted; duplicates fail. */
function uniqueSorted(list: string[], what: string): string[] {
  const dupes = list.filter((x, i) => list.indexOf(x) !== i);
  assert.deepEqual(dupes, [], `${what}: listed twice`);
  return [...list].sort();
}

describe('docs/configuration.md: the update.conf keys are KEY_TABLE', () => {
  it('every key of the code is a row, every row a key of the code', () => {
    const rows = firstCells(section(doc('configuration.md'), '## Keys'))
      .filter((c) => c !== 'key')
      .map((c) => /^`([a-z0-9_]+)`$/.exec(c)?.[1] ?? `not a key cell: ${c}`);
    const keys = Object.values(KEY_TABLE).map((s) => s.key);
    assert.deepEqual(uniqueSorted(rows, 'docs/configuration.md'), uniqueSorted(keys, 'KEY_TABLE'));
  });
});

describe('the exit code tables are ExitCode', () => {
  const codes = uniqueSorted(Object.values(ExitCode).map(String), 'ExitCode');
  const table = (text: string) =>
    uniqueSorted(
      firstCells(text).filter((c) => c !== 'code'),
      'exit code table',
    );

  it('docs/design.md §3.7', () => {
    assert.deepEqual(table(section(doc('design.md'), '### 3.7 Exit codes')), codes);
  });

  it('docs/operating.md "Exit codes"', () => {
    assert.deepEqual(table(section(doc('operating.md'), '## Exit codes')), codes);
  });

  it('every error class exits with a documented code', () => {
    const classes = [
      new OperationError('UNEXPECTED', 'm'),
      new UsageError('UNEXPECTED', 'm'),
      new ConfigError('UNEXPECTED', 'm'),
      new GateError('UNEXPECTED', 'm'),
      new VerificationError('UNEXPECTED', 'm'),
      new HealthCheckError('UNEXPECTED', 'm'),
      new InterruptedError('SIGINT'),
      new InterruptedError('SIGTERM'),
    ];
    const documented = table(section(doc('design.md'), '### 3.7 Exit codes'));
    for (const e of classes) assert.ok(documented.includes(String(e.exitCode)), e.name);
  });
});

describe('docs/operating.md "Reason codes of the lifecycle" is LIFECYCLE_REASONS', () => {
  it('same codes, same exit codes, both ways', () => {
    const text = section(doc('operating.md'), '## Reason codes of the lifecycle');
    const rows = [...text.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map(
      (m) => [m[1]!, /^\d+$/.test(m[2]!.trim()) ? Number(m[2]) : null] as const,
    );
    uniqueSorted(
      rows.map(([c]) => c),
      'docs/operating.md',
    );
    assert.deepEqual(Object.fromEntries(rows), { ...LIFECYCLE_REASONS });
  });
});
