import { strict as assert } from 'node:assert';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { atomicWriteFile, type AtomicWriteStep } from '../../src/fs/atomic.js';
import { useTempDir } from '../helpers/tree.js';
import { failAt } from './fail-at.js';

/** Open file descriptors of this process that point at a temp file of atomicWriteFile. */
function openTempFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.includes('.tmp-')) out.push(target);
    } catch {
      // the fd closed while we looked (another part of the runtime)
    }
  }
  return out;
}

describe(
  'atomicWriteFile under injected faults',
  { skip: process.platform !== 'linux' && 'needs /proc/self/fd' },
  () => {
    const tmp = useTempDir('ks-atomic-faults-', 'all');

    it('a fault after any step leaks no file descriptor and leaves old-or-new content', async () => {
      const steps: AtomicWriteStep[] = ['open', 'write', 'fsync', 'close', 'rename', 'fsync-dir'];
      const p = tmp.path('f');
      for (const step of steps) {
        await writeFile(p, 'old');
        await assert.rejects(atomicWriteFile(p, 'new', failAt(step, 'fault')), /fault at/);
        assert.deepEqual(openTempFds(), [], `file descriptor leaked after a fault at ${step}`);
        const renamed = step === 'rename' || step === 'fsync-dir';
        assert.equal(await readFile(p, 'utf8'), renamed ? 'new' : 'old', step);
        assert.deepEqual(await readdir(tmp.dir), ['f'], step);
      }
    });
  },
);
