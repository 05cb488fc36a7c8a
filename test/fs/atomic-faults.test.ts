import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { atomicWriteFile, type AtomicWriteStep } from '../../src/fs/atomic.js';

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
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ks-atomic-faults-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('a fault after any step leaks no file descriptor and leaves old-or-new content', async () => {
      const steps: AtomicWriteStep[] = ['open', 'write', 'fsync', 'close', 'rename', 'fsync-dir'];
      const p = join(dir, 'f');
      for (const failAt of steps) {
        await writeFile(p, 'old');
        await assert.rejects(
          atomicWriteFile(p, 'new', {
            onStep: (s) => {
              if (s === failAt) throw new Error(`fault at ${s}`);
            },
          }),
          /fault at/,
        );
        assert.deepEqual(openTempFds(), [], `file descriptor leaked after a fault at ${failAt}`);
        const renamed = failAt === 'rename' || failAt === 'fsync-dir';
        assert.equal(await readFile(p, 'utf8'), renamed ? 'new' : 'old', failAt);
        assert.deepEqual(await readdir(dir), ['f'], failAt);
      }
    });
  },
);
