import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { atomicWriteFile, type AtomicWriteStep } from '../../src/fs/atomic.js';

const openFds = () => readdirSync('/proc/self/fd').length;

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
        const fds = openFds();
        await assert.rejects(
          atomicWriteFile(p, 'new', {
            onStep: (s) => {
              if (s === failAt) throw new Error(`fault at ${s}`);
            },
          }),
          /fault at/,
        );
        assert.equal(openFds(), fds, `file descriptor leaked after a fault at ${failAt}`);
        const renamed = failAt === 'rename' || failAt === 'fsync-dir';
        assert.equal(await readFile(p, 'utf8'), renamed ? 'new' : 'old', failAt);
        assert.deepEqual(await readdir(dir), ['f'], failAt);
      }
    });
  },
);
