import { strict as assert } from 'node:assert';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { atomicWriteFile, type AtomicWriteStep } from '../../src/fs/atomic.js';
import { useTempDir } from '../helpers/tree.js';
import { failAt } from './fail-at.js';

describe('atomicWriteFile', () => {
  const tmp = useTempDir('ks-atomic-');

  it('replaces the file and leaves no temp files', async () => {
    const p = tmp.path('f');
    await writeFile(p, 'old');
    await atomicWriteFile(p, 'new', { mode: 0o600 });
    assert.equal(await readFile(p, 'utf8'), 'new');
    assert.equal((await stat(p)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(tmp.dir), ['f']);
  });

  it('creates the parent directory when asked', async () => {
    const p = tmp.path('a', 'b', 'f');
    await atomicWriteFile(p, 'x', { mkdirp: true });
    assert.equal(await readFile(p, 'utf8'), 'x');
  });

  it('a failure at any step before rename keeps the old file whole and cleans up', async () => {
    const steps: AtomicWriteStep[] = ['open', 'write', 'fsync', 'close'];
    for (const step of steps) {
      const p = tmp.path('f');
      await writeFile(p, 'old');
      await assert.rejects(atomicWriteFile(p, 'new', failAt(step)), /crash at/);
      assert.equal(await readFile(p, 'utf8'), 'old', step);
      assert.deepEqual(await readdir(tmp.dir), ['f'], step);
    }
  });

  it('a failure after rename leaves the new file whole', async () => {
    const p = tmp.path('f');
    await writeFile(p, 'old');
    await assert.rejects(atomicWriteFile(p, 'new', failAt('rename')));
    assert.equal(await readFile(p, 'utf8'), 'new');
  });
});
