/**
 * Issue 13, finding 1: the running slot is untouchable. The proof lives in
 * src/slots/slot-identity.ts; here it meets every spelling of "the same storage":
 * lexical aliases, symlinks, and block slots that resolve to one device (two
 * by-label symlinks to one loop device, a second device node for the same device).
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { createBlockSlotStore } from '../../src/slots/block-store.js';
import { deviceNumber } from '../../src/slots/block-device.js';
import {
  assertDistinctSlotDevices,
  assertDistinctSlotDirs,
  assertSlotKeysDistinct,
  slotSpellingsAlias,
} from '../../src/slots/slot-identity.js';
import { deviceNodeUnder, loopSkipReason, useLoopDisks, type LoopDisk } from '../helpers/loop.js';
import { silentLogger } from '../../src/log.js';
import { useTempDir } from '../helpers/tree.js';
import { hasCode, throwsWithCode } from '../helpers/rejects.js';

const exec = promisify(execFile);

describe('slot aliasing seen in the configuration', () => {
  it('every spelling of one directory aliases', () => {
    for (const b of [
      '/slots/a',
      '/slots/a/',
      '/slots/b/../a',
      '/slots/./a',
      '//slots//a',
      '/x/../slots/a',
    ]) {
      assert.equal(slotSpellingsAlias('/slots/a', b), true, b);
    }
    for (const b of ['/slots/b', '/slots/a/b', '/slots/ab', '/Slots/a']) {
      assert.equal(slotSpellingsAlias('/slots/a', b), false, b);
    }
    assert.equal(slotSpellingsAlias('/slots/a', undefined), false);
  });

  it('assertSlotKeysDistinct names the key: SLOT_ALIASED', () => {
    const dirs = throwsWithCode(
      () => assertSlotKeysDistinct({ slotADir: '/s/a', slotBDir: '/s/b/../a' }),
      'SLOT_ALIASED',
      2,
    );
    assert.deepEqual(dirs.details, { key: 'slot_b_dir', slotADir: '/s/a', slotBDir: '/s/b/../a' });
    const labels = throwsWithCode(
      () => assertSlotKeysDistinct({ slotALabel: 'KSOLOA', slotBLabel: 'KSOLOA' }),
      'SLOT_ALIASED',
      2,
    );
    assert.deepEqual(labels.details, { key: 'slot_b_label', label: 'KSOLOA' });
    assertSlotKeysDistinct({
      slotADir: '/s/a',
      slotBDir: '/s/b',
      slotALabel: 'A',
      slotBLabel: 'B',
    });
  });
});

describe('slot aliasing proved on disk (dir slots)', () => {
  const tmp = useTempDir('ks-identity-', 'all');
  before(async () => {
    await mkdir(tmp.path('a'));
    await mkdir(tmp.path('b'));
    await symlink(tmp.path('a'), tmp.path('link-to-a'));
    await symlink('../a', tmp.path('b', 'up'));
  });

  it('distinct directories pass; a missing other slot cannot alias', async () => {
    await assertDistinctSlotDirs({ A: tmp.path('a'), B: tmp.path('b') }, 'B');
    await assertDistinctSlotDirs({ A: tmp.path('missing'), B: tmp.path('b') }, 'B');
  });

  it('a slot path that cannot be resolved (a symlink loop: ELOOP) is SLOT_IDENTITY_FAILED, not a pass', async () => {
    // Only ENOENT means "not there yet, cannot alias"; any other failure to resolve
    // leaves the question open, and an open question must not allow the write.
    await symlink(tmp.path('loop-2'), tmp.path('loop-1'));
    await symlink(tmp.path('loop-1'), tmp.path('loop-2'));
    await assert.rejects(
      assertDistinctSlotDirs({ A: tmp.path('loop-1'), B: tmp.path('b') }, 'B'),
      (err: { details: Record<string, unknown> }) =>
        hasCode('SLOT_IDENTITY_FAILED', 1)(err) &&
        err.details.errno === 'ELOOP' &&
        err.details.dir === tmp.path('loop-1'),
    );
  });

  for (const spelling of ['link-to-a', 'b/up', 'b/../a', './a/']) {
    it(`slot B at ${spelling} is slot A: SLOT_ALIASED`, async () => {
      await assert.rejects(
        assertDistinctSlotDirs({ A: tmp.path('a'), B: tmp.path(spelling) }, 'B'),
        (err: { details: Record<string, unknown> }) =>
          hasCode('SLOT_ALIASED', 2)(err) && err.details.resolved === tmp.path('a'),
      );
    });
  }
});

const loopSkip = await loopSkipReason();
if (loopSkip) console.log(`# block slot aliasing tests skipped: ${loopSkip}`);

describe('slot aliasing proved on disk (block slots on loop devices)', { skip: loopSkip }, () => {
  const loop = useLoopDisks('KI', [8, 8]);
  let work: string;
  let a: LoopDisk;
  let b: LoopDisk;
  before(() => {
    work = loop.work;
    [a, b] = loop.disks as [LoopDisk, LoopDisk];
  });

  it('two devices pass', async () => {
    await assertDistinctSlotDevices({ A: a.device, B: b.device }, 'B');
  });

  it('a second device node for the same device is the same slot', async () => {
    const [major, minor] = (await deviceNumber(a.device)).split(':');
    const alias = join(work, 'alias-node');
    await exec('mknod', [alias, 'b', major!, minor!]);
    await assert.rejects(
      assertDistinctSlotDevices({ A: a.device, B: alias }, 'B'),
      (err: { details: Record<string, unknown> }) =>
        hasCode('SLOT_ALIASED', 2)(err) && err.details.majorMinor === `${major}:${minor}`,
    );
  });

  it('the block store refuses to write when both labels resolve to one device (by-label symlinks)', async () => {
    // A --root whose /dev/disk/by-label has both slot labels pointing at disk A.
    const root = join(work, 'root');
    // The links are relative, as udev's, to disk A's node under the root (with --root
    // only devices there are used).
    await mkdir(join(root, 'dev/disk/by-label'), { recursive: true });
    const node = await deviceNodeUnder(root, a.device);
    await symlink(join('..', '..', basename(node)), join(root, 'dev/disk/by-label/SLOTA'));
    await symlink(join('..', '..', basename(node)), join(root, 'dev/disk/by-label/SLOTB'));
    const store = createBlockSlotStore({
      log: silentLogger,
      labels: { A: 'SLOTA', B: 'SLOTB' },
      root,
      mountBase: work,
    });
    const kernel = randomBytes(4096);
    const initramfs = randomBytes(8192);
    await writeFile(join(work, 'k'), kernel);
    await writeFile(join(work, 'i'), initramfs);
    const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
    const before = (await stat(a.image)).mtimeMs;
    await assert.rejects(
      store.write(
        'B',
        { files: { vmlinuz: join(work, 'k'), initramfs: join(work, 'i') }, version: 'v9.0.0' },
        { vmlinuz: sha(kernel), initramfs: sha(initramfs) },
      ),
      hasCode('SLOT_ALIASED', 2),
    );
    assert.equal(await store.readVersion('A'), undefined, 'nothing was written to disk A');
    assert.equal((await stat(a.image)).mtimeMs, before);
  });
});
