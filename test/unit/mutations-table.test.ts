/**
 * test/mutations.tsv stays replayable (issue 29: the proof that tests fail for the
 * reason in their title is kept as a list of mutations). `npm run test:mutations` takes
 * minutes and is run by hand, so a refactor could leave a row pointing at text that is no
 * longer there; this checks every row cheaply in `npm test`: its file exists and holds
 * the old text exactly once, its test file exists and names the test it picks.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const unescape = (s: string) =>
  s.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', '\\': '\\' })[c] ?? `\\${c}`);

/** The problems of each row of the table text, as "line N: what". */
export function rowProblems(table: string, read: (path: string) => string | undefined): string[] {
  const problems: string[] = [];
  table.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const cols = line.split('\t');
    if (cols.length !== 6) return void problems.push(`line ${i + 1}: ${cols.length} columns`);
    const [file, oldText, , test, name] = cols as [string, string, string, string, string];
    const text = read(file);
    const count = text === undefined ? 0 : text.split(unescape(oldText)).length - 1;
    if (text === undefined) problems.push(`line ${i + 1}: ${file} does not exist`);
    else if (count !== 1) problems.push(`line ${i + 1}: the old text is ${count} times in ${file}`);
    const tests = read(test);
    if (tests === undefined) problems.push(`line ${i + 1}: ${test} does not exist`);
    else if (name !== '' && !tests.includes(name))
      problems.push(`line ${i + 1}: no test named "${name}" in ${test}`);
  });
  return problems;
}

const readRepoFile = (path: string) => {
  const full = join(ROOT, path);
  return existsSync(full) ? readFileSync(full, 'utf8') : undefined;
};

describe('test/mutations.tsv', () => {
  it('every mutation still applies to its file and names an existing test', () => {
    const table = readFileSync(join(ROOT, 'test/mutations.tsv'), 'utf8');
    assert.ok(table.split('\n').filter((l) => l && !l.startsWith('#')).length > 10);
    assert.deepEqual(rowProblems(table, readRepoFile), []);
  });

  it('a row whose old text moved away is reported', () => {
    const files: Record<string, string> = { 'src/a.ts': 'x = 1;\n', 'test/a.test.ts': "it('a')" };
    const table = 'src/a.ts\tx = 2;\tx = 3;\ttest/a.test.ts\t\twhy\n';
    assert.deepEqual(
      rowProblems(table, (p) => files[p]),
      ['line 1: the old text is 0 times in src/a.ts'],
    );
  });
});
