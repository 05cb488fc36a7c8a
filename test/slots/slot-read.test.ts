/**
 * The slot files' read paths and their failures on a real directory: the version
 * file read back after it is renamed into place, and SLOT_READ_FAILED (a read that
 * fails for another reason than "missing", which must not be mistaken for an empty
 * slot) in readVersion, verify and freeBytes; SLOT_WRITE_FAILED when the staged
 * image cannot be read.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createDirSlotStore } from '../../src/slots/dir-store.js';
import { dirFreeBytes } from '../../src/slots/slot-files.js';
import { silentLogger } from '../../src/log.js';
import { hasCode, rejectsWithCode } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';
import { useTempDir } from '../helpers/tree.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('slot files: read-back and read failures', () => {
  const work = useTempDir('ks-slotread-', 'all');
  let n = 0;

  /** A fresh pair of slot dirs and a staged image of `version`. */
  async function setup(version = 'v2.0.0') {
    const base = work.path(String(n++));
    await mkdir(base);
    const kernel = randomBytes(3000);
    const initramfs = randomBytes(5000);
    await writeFile(join(base, 'k'), kernel);
    await writeFile(join(base, 'i'), initramfs);
    return {
      dirs: { A: join(base, 'a'), B: join(base, 'b') },
      image: { files: { vmlinuz: join(base, 'k'), initramfs: join(base, 'i') }, version },
      digests: { vmlinuz: sha(kernel), initramfs: sha(initramfs) },
    };
  }

  it('a version file that reads back differently after its rename: SLOT_VERIFY_FAILED (phase readback)', async () => {
    const { dirs, image, digests } = await setup('v2.0.0');
    const store = createDirSlotStore(dirs, {
      log: silentLogger,
      onWriteStep: (step) => {
        // Between the rename into place and the read-back: another writer's version.
        if (step === 'version-renamed') writeFileSyncVersion(dirs.B, 'v6.6.6');
      },
    });
    await assert.rejects(store.write('B', image, digests), (err: any) => {
      assertCode(err.code, 'SLOT_VERIFY_FAILED');
      assert.equal(err.exitCode, 4);
      assert.equal(err.details.phase, 'readback');
      assert.equal(err.details.expected, 'v2.0.0');
      assert.equal(err.details.actual, 'v6.6.6');
      return true;
    });
  });

  it('readVersion of a version file that cannot be read (a directory): SLOT_READ_FAILED, not "no version"', async () => {
    const { dirs } = await setup();
    await mkdir(join(dirs.A, 'version'), { recursive: true });
    const store = createDirSlotStore(dirs, { log: silentLogger });
    await assert.rejects(store.readVersion('A'), (err: any) => {
      assertCode(err.code, 'SLOT_READ_FAILED');
      assert.equal(err.exitCode, 1);
      assert.equal(err.details.errno, 'EISDIR');
      return true;
    });
    // A missing file is the other case: no version, no error.
    assert.equal(await store.readVersion('B'), undefined);
  });

  it('verify of a kernel that cannot be read (a directory): SLOT_READ_FAILED, exit 1', async () => {
    const { dirs, image, digests } = await setup();
    const store = createDirSlotStore(dirs, { log: silentLogger });
    await store.write('B', image, digests);
    await rm(join(dirs.B, 'vmlinuz'));
    await mkdir(join(dirs.B, 'vmlinuz'));
    await rejectsWithCode(store.verify('B', digests), 'SLOT_READ_FAILED', 1);
  });

  it('free space of a slot directory not created yet: its file system, and nothing created', async () => {
    const nowhere = work.path('nowhere');
    const bytes = async () => {
      const s = await statfs(work.dir);
      return s.bavail * s.bsize;
    };
    const low = await bytes();
    const free = await dirFreeBytes(nowhere);
    const high = await bytes();
    // The parent's file system; tests running beside this one may move it a little.
    const slack = 256 * 1024 * 1024;
    assert.ok(
      free >= Math.min(low, high) - slack && free <= Math.max(low, high) + slack,
      `${free}`,
    );
    assert.equal(existsSync(nowhere), false);
  });

  it('a staged image that vanished before the write: SLOT_WRITE_FAILED, exit 1, the old slot intact', async () => {
    const { dirs, image, digests } = await setup('v2.0.0');
    const store = createDirSlotStore(dirs, { log: silentLogger });
    await store.write('B', image, digests);
    const before = await readFile(join(dirs.B, 'vmlinuz'));
    await assert.rejects(
      store.write(
        'B',
        { ...image, files: { ...image.files, vmlinuz: work.path('gone') }, version: 'v3.0.0' },
        digests,
      ),
      hasCode('SLOT_WRITE_FAILED', 1),
    );
    assert.equal(await store.readVersion('B'), 'v2.0.0');
    assert.deepEqual(await readFile(join(dirs.B, 'vmlinuz')), before);
    // The failed write leaves nothing but the (empty) download directory behind.
    assert.deepEqual((await readdir(dirs.B)).sort(), [
      '.incoming',
      'kubesolo-os.gz',
      'version',
      'vmlinuz',
    ]);
    assert.deepEqual(await readdir(join(dirs.B, '.incoming')), []);
  });
});

function writeFileSyncVersion(dir: string, version: string): void {
  // Synchronous: the hook is synchronous and the read-back follows right after it.
  writeFileSync(join(dir, 'version'), `${version}\n`);
}
