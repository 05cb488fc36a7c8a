/**
 * test/mutations.tsv stays replayable (issue 29: the proof that tests fail for the
 * reason in their title is kept as a list of mutations). `npm run test:mutations` takes
 * minutes and is run by hand, so a refactor could leave a row pointing at text that is no
 * longer there; `scripts/mutate.mjs --check` (the replay's own parser and stale-row rule)
 * checks every row cheaply, here in `npm test`.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { useTempDir } from '../helpers/tree.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MUTATE = join(ROOT, 'scripts/mutate.mjs');

function check(cwd: string, table?: string) {
  const args = [MUTATE, '--check', ...(table === undefined ? [] : [`--table=${table}`])];
  return spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
}

describe('test/mutations.tsv', () => {
  const tmp = useTempDir('ks-mutations-');

  it('every mutation still applies to its file, and its test file exists', () => {
    const r = check(ROOT);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^([1-9]\d+) of \1 mutations apply$/m);
  });

  it('a row whose old text moved away is reported, and the check fails', async () => {
    await mkdir(tmp.path('src'));
    await writeFile(tmp.path('src/a.ts'), 'x = 1;\n');
    await writeFile(tmp.path('a.test.ts'), "it('a')\n");
    await writeFile(tmp.path('m.tsv'), 'src/a.ts\tx = 2;\tx = 3;\ta.test.ts\t\twhy\n');
    const r = check(tmp.dir, tmp.path('m.tsv'));
    assert.equal(r.status, 1);
    assert.match(r.stdout, /STALE .*m\.tsv:1: the old text occurs 0 times in src\/a\.ts/);
  });
});
