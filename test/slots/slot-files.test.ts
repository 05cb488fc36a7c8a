import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createDirSlotStore } from '../../src/slots/dir-store.js';
import { requireRoot } from '../helpers/require-tool.js';
import { flipByte } from './fixtures.js';
import { silentLogger } from '../../src/log.js';
import { useTempDir } from '../helpers/tree.js';
import { hasCode, rejectsWithCode } from '../helpers/rejects.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function stagedImage(
  dir: string,
  kernelBytes: number,
  initramfsBytes: number,
  version: string,
) {
  const kernel = randomBytes(kernelBytes);
  const initramfs = randomBytes(initramfsBytes);
  await writeFile(join(dir, 'k'), kernel);
  await writeFile(join(dir, 'i'), initramfs);
  return {
    image: { files: { vmlinuz: join(dir, 'k'), initramfs: join(dir, 'i') }, version },
    digests: { vmlinuz: sha(kernel), initramfs: sha(initramfs) },
  };
}

describe('dir slot store', () => {
  const tmp = useTempDir('ks-dirslots-', 'all');

  it('writes, reads back, verifies, and reports a bootable slot', async () => {
    const store = createDirSlotStore({ A: tmp.path('a'), B: tmp.path('b') }, { log: silentLogger });
    assert.equal(await store.hasBootableImage('B'), false);
    assert.equal(await store.readVersion('B'), undefined);
    const { image, digests } = await stagedImage(tmp.dir, 1000, 3000, 'v2.0.0');
    await store.write('B', image, digests);
    assert.equal(await store.readVersion('B'), 'v2.0.0');
    assert.equal(await store.hasBootableImage('B'), true);
    await store.verify('B', digests);
    assert.deepEqual((await readdir(tmp.path('b'))).sort(), [
      '.incoming',
      'kubesolo-os.gz',
      'version',
      'vmlinuz',
    ]);
    assert.ok((await store.freeBytes('B')) > 0);
  });

  it('a wrong expected digest is refused before the slot is touched (phase source)', async () => {
    const store = createDirSlotStore(
      { A: tmp.path('a2'), B: tmp.path('b2') },
      { log: silentLogger },
    );
    const { image, digests } = await stagedImage(tmp.dir, 100, 100, 'v3.0.0');
    await assert.rejects(
      store.write('B', image, { ...digests, initramfs: '0'.repeat(64) }),
      (err: unknown) => {
        hasCode('SLOT_VERIFY_FAILED', 4)(err);
        assert.equal((err as { details: { phase: string } }).details.phase, 'source');
        return true;
      },
    );
    assert.equal(await store.hasBootableImage('B'), false);
    await writeFile(tmp.path('b2', 'vmlinuz'), 'tampered');
    await rejectsWithCode(store.verify('B', digests), 'SLOT_VERIFY_FAILED', 4);
  });

  it('read-back fails for a file corrupted between its rename and the read-back', async () => {
    const store = createDirSlotStore(
      { A: tmp.path('a4'), B: tmp.path('b4') },
      {
        log: silentLogger,
        onWriteStep: (step, dir) => {
          if (step === 'initramfs-renamed') flipByte(join(dir, 'kubesolo-os.gz'), 1000);
        },
      },
    );
    const { image, digests } = await stagedImage(tmp.dir, 1000, 3000, 'v4.0.0');
    await assert.rejects(store.write('B', image, digests), (err: unknown) => {
      hasCode('SLOT_VERIFY_FAILED', 4)(err);
      assert.equal((err as { details: { phase: string } }).details.phase, 'readback');
      return true;
    });
    assert.equal(await store.readVersion('B'), undefined);
    assert.equal(await store.hasBootableImage('B'), false);
  });

  it('a full filesystem fails cleanly (SLOT_NO_SPACE) and leaves the old image untouched', async (t) => {
    if (requireRoot(t, 'mounts a small tmpfs')) return;
    const mnt = tmp.path('small');
    execFileSync('mkdir', ['-p', mnt]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mnt]);
    try {
      const store = createDirSlotStore({ A: tmp.path('a3'), B: mnt }, { log: silentLogger });
      const old = await stagedImage(tmp.dir, 50_000, 50_000, 'v1.0.0');
      await store.write('B', old.image, old.digests);
      const big = await stagedImage(tmp.dir, 300_000, 300_000, 'v2.0.0');
      await rejectsWithCode(store.write('B', big.image, big.digests), 'SLOT_NO_SPACE', 3);
      assert.equal(await store.readVersion('B'), 'v1.0.0');
      await store.verify('B', old.digests);
      assert.deepEqual((await readdir(mnt)).sort(), [
        '.incoming',
        'kubesolo-os.gz',
        'version',
        'vmlinuz',
      ]);
      // The partial copies are gone: the space is free again.
      assert.deepEqual(await readdir(join(mnt, '.incoming')), []);
      assert.equal((await readFile(join(mnt, 'version'), 'utf8')).trim(), 'v1.0.0');
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
