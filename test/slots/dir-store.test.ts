import { strict as assert } from 'node:assert';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDirSlotStore } from '../../src/slots/dir-store.js';
import type { SlotWriteStep } from '../../src/slots/slot-files.js';
import { SLOT_WRITE_STEPS, stageImage, type StagedImage } from './fixtures.js';
import { silentLogger } from '../../src/log.js';
import { hasCode, rejectsWithCode } from '../helpers/rejects.js';

describe('dir slot store', () => {
  let root: string;
  let staging: string;
  let v1: StagedImage;
  let v2: StagedImage;
  let n = 0;
  async function freshSlots() {
    const base = join(root, `s${n++}`);
    await mkdir(join(base, 'a'), { recursive: true });
    await mkdir(join(base, 'b'), { recursive: true });
    return { A: join(base, 'a'), B: join(base, 'b') };
  }
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ks-dirstore-'));
    staging = join(root, 'staging');
    await mkdir(staging);
    v1 = await stageImage(staging, 'v1.0.0');
    v2 = await stageImage(staging, 'v2.0.0');
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes, reads back, verifies; an empty slot is not bootable', async () => {
    const dirs = await freshSlots();
    const store = createDirSlotStore(dirs, { log: silentLogger });
    assert.equal(await store.readVersion('A'), undefined);
    assert.equal(await store.hasBootableImage('A'), false);
    const free = await store.freeBytes('A');
    assert.ok(Number.isSafeInteger(free) && free > 0);
    await store.write('A', v1.image, v1.digests);
    assert.equal(await store.readVersion('A'), 'v1.0.0');
    assert.equal(await store.hasBootableImage('A'), true);
    await store.verify('A', v1.digests);
    assert.deepEqual((await readdir(dirs.A)).sort(), [
      '.incoming',
      'kubesolo-os.gz',
      'version',
      'vmlinuz',
    ]);
    assert.equal(await store.hasBootableImage('B'), false);
    // Replacing an image works the same way.
    await store.write('A', v2.image, v2.digests);
    assert.equal(await store.readVersion('A'), 'v2.0.0');
    await rejectsWithCode(store.verify('A', v1.digests), 'SLOT_VERIFY_FAILED', 4);
  });

  it('refuses a staged file that does not match its digest, before touching the slot', async () => {
    const dirs = await freshSlots();
    const store = createDirSlotStore(dirs, { log: silentLogger });
    await store.write('A', v1.image, v1.digests);
    await assert.rejects(
      store.write('A', v2.image, { ...v2.digests, initramfs: v1.digests.initramfs }),
      (err: unknown) => {
        hasCode('SLOT_VERIFY_FAILED', 4)(err);
        assert.equal((err as { details: { phase: string } }).details.phase, 'source');
        return true;
      },
    );
    await store.verify('A', v1.digests);
    assert.equal(await store.readVersion('A'), 'v1.0.0');
    assert.deepEqual((await readdir(dirs.A)).sort(), [
      '.incoming',
      'kubesolo-os.gz',
      'version',
      'vmlinuz',
    ]);
  });

  it('a failure at every step leaves the old image, an unbootable slot, or the new image: never a mix', async () => {
    const steps: readonly SlotWriteStep[] = SLOT_WRITE_STEPS;
    for (const failAt of steps) {
      const dirs = await freshSlots();
      await createDirSlotStore(dirs, { log: silentLogger }).write('A', v1.image, v1.digests);
      const store = createDirSlotStore(dirs, {
        log: silentLogger,
        onWriteStep: (s) => {
          if (s === failAt) throw new Error(`crash at ${s}`);
        },
      });
      await assert.rejects(store.write('A', v2.image, v2.digests));
      const entries = [...(await readdir(dirs.A)), ...(await readdir(join(dirs.A, '.incoming')))];
      assert.ok(
        !entries.some((e) => e.includes('.tmp-')),
        `temp files left after ${failAt}: ${entries.join(' ')}`,
      );
      const version = await store.readVersion('A');
      const bootable = await store.hasBootableImage('A');
      if (failAt.startsWith('temp-')) {
        assert.equal(version, 'v1.0.0', failAt);
        await store.verify('A', v1.digests);
      } else if (failAt === 'version-renamed') {
        assert.equal(version, 'v2.0.0', failAt);
        await store.verify('A', v2.digests);
      } else {
        assert.equal(version, undefined, failAt);
        assert.equal(bootable, false, failAt);
      }
    }
  });

  it('openWriter: a failed install keeps the verified files in .incoming, and a retry installs them', async () => {
    const dirs = await freshSlots();
    await createDirSlotStore(dirs, { log: silentLogger }).write('A', v1.image, v1.digests);
    let fail = true;
    const store = createDirSlotStore(dirs, {
      log: silentLogger,
      onWriteStep: (s) => {
        if (s === 'temp-version' && fail) throw new Error('crash writing version');
      },
    });
    const place = async (incoming: string) => {
      const kernelPath = join(incoming, 'vmlinuz');
      const initramfsPath = join(incoming, 'kubesolo-os.gz');
      await copyFile(v2.image.files.vmlinuz, kernelPath);
      await copyFile(v2.image.files.initramfs, initramfsPath);
      return { files: { vmlinuz: kernelPath, initramfs: initramfsPath }, version: 'v2.0.0' };
    };
    await assert.rejects(
      store.openWriter('A', async (w) => w.install(await place(w.incomingDir), v2.digests)),
    );
    // The old image is intact and the new files are still there for the next run.
    assert.equal(await store.readVersion('A'), 'v1.0.0');
    assert.deepEqual((await readdir(join(dirs.A, '.incoming'))).sort(), [
      'kubesolo-os.gz',
      'vmlinuz',
    ]);
    fail = false;
    await store.openWriter('A', (w) =>
      w.install(
        {
          files: {
            vmlinuz: join(w.incomingDir, 'vmlinuz'),
            initramfs: join(w.incomingDir, 'kubesolo-os.gz'),
          },
          version: 'v2.0.0',
        },
        v2.digests,
      ),
    );
    assert.equal(await store.readVersion('A'), 'v2.0.0');
    await store.verify('A', v2.digests);
    assert.deepEqual(await readdir(join(dirs.A, '.incoming')), []);
  });

  it('detects a changed or missing file', async () => {
    const dirs = await freshSlots();
    const store = createDirSlotStore(dirs, { log: silentLogger });
    await store.write('B', v1.image, v1.digests);
    await appendFile(join(dirs.B, 'vmlinuz'), 'x');
    await rejectsWithCode(store.verify('B', v1.digests), 'SLOT_VERIFY_FAILED', 4);
    await rm(join(dirs.B, 'kubesolo-os.gz'));
    assert.equal(await store.hasBootableImage('B'), false);
    await writeFile(join(dirs.B, 'vmlinuz'), '');
    await rejectsWithCode(store.verify('B', v1.digests), 'SLOT_VERIFY_FAILED', 4);
  });

  it('an empty kernel is not bootable', async () => {
    const dirs = await freshSlots();
    await writeFile(join(dirs.A, 'vmlinuz'), '');
    await writeFile(join(dirs.A, 'kubesolo-os.gz'), 'x');
    await writeFile(join(dirs.A, 'version'), 'v1\n');
    assert.equal(
      await createDirSlotStore(dirs, { log: silentLogger }).hasBootableImage('A'),
      false,
    );
  });

  it('a missing directory is an empty slot, created by the first write; bad versions are refused', async () => {
    const dirs = { A: join(root, 'nope', 'a'), B: join(root, 'nope', 'b') };
    const store = createDirSlotStore(dirs, { log: silentLogger });
    assert.equal(await store.readVersion('A'), undefined);
    assert.equal(await store.hasBootableImage('A'), false);
    await rejectsWithCode(store.verify('A', v1.digests), 'SLOT_VERIFY_FAILED', 4);
    assert.ok((await store.freeBytes('B')) > 0);
    await store.write('A', v1.image, v1.digests);
    assert.equal(await store.readVersion('A'), 'v1.0.0');
    // A path that cannot be a directory.
    await writeFile(join(root, 'file'), 'x');
    const blocked = createDirSlotStore(
      { A: join(root, 'file', 'a'), B: dirs.B },
      { log: silentLogger },
    );
    await rejectsWithCode(blocked.write('A', v1.image, v1.digests), 'SLOT_NOT_FOUND', 1);
    assert.equal(await blocked.readVersion('A'), undefined);
    const fresh = await freshSlots();
    for (const version of ['', ' ', 'v1\nv2', 'x'.repeat(200)]) {
      await rejectsWithCode(
        createDirSlotStore(fresh, { log: silentLogger }).write(
          'A',
          { ...v1.image, version },
          v1.digests,
        ),
        'SLOT_INVALID_VERSION',
        1,
      );
    }
    assert.deepEqual(await readdir(fresh.A), []);
  });

  it('removes temp files a killed writer left behind', async () => {
    const dirs = await freshSlots();
    const stale = join(dirs.A, `.kubesolo-os.gz.tmp-${2 ** 22 + 1}-0badf00d`);
    await writeFile(stale, 'partial');
    await createDirSlotStore(dirs, { log: silentLogger }).write('A', v1.image, v1.digests);
    assert.deepEqual((await readdir(dirs.A)).sort(), [
      '.incoming',
      'kubesolo-os.gz',
      'version',
      'vmlinuz',
    ]);
  });
});
