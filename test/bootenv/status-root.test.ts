/**
 * Issue #3 "done means": `kubesolo-update status` (the real bundle) shows the slots
 * and the boot state of a --root whose GRUB environment was prepared with
 * grub-editenv, over dir slots and over ext4 slot partitions on loop devices.
 */
import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createBlockSlotStore } from '../../src/slots/block-store.js';
import { runAgent } from '../helpers/cli.js';
import { assertNamesCode } from '../helpers/code-assert.js';
import {
  deviceNodeUnder,
  loopSkipReason,
  makeLoopDisk,
  mountsOf,
  uniqueLabel,
  type LoopDisk,
} from '../helpers/loop.js';
import { stageImage } from '../slots/fixtures.js';
import { grubEditenvOk, grubEditenvSkipReason } from './editenv.js';
import { silentLogger } from '../../src/log.js';

const skip = grubEditenvSkipReason();

/** `status --json` of the device under `root`: it must exit 0; its document. */
async function statusOf(root: string): Promise<Record<string, unknown>> {
  const r = await runAgent(['status', '--json', '--root', root]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('status over a --root prepared with grub-editenv', { skip }, () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ks-status-root-'));
    for (const d of [
      'etc/kubesolo',
      'boot/grub',
      'proc',
      'slots/a',
      'slots/b',
      'var/lib/kubesolo',
    ]) {
      await mkdir(join(root, d), { recursive: true });
    }
    await writeFile(
      join(root, 'etc/kubesolo/update.conf'),
      'slot_backend=dir\nslot_a_dir=/slots/a\nslot_b_dir=/slots/b\n',
    );
    for (const [slot, version] of [
      ['a', 'v1.0.0'],
      ['b', 'v1.1.0'],
    ] as const) {
      await writeFile(join(root, 'slots', slot, 'vmlinuz'), 'kernel');
      await writeFile(join(root, 'slots', slot, 'kubesolo-os.gz'), 'initramfs');
      await writeFile(join(root, 'slots', slot, 'version'), `${version}\n`);
    }
    const env = join(root, 'boot/grub/grubenv');
    grubEditenvOk(env, 'create');
    grubEditenvOk(env, 'set', 'active_slot=B', 'boot_counter=2', 'boot_success=0');
    await writeFile(join(root, 'proc/cmdline'), 'kubesolo.slot=B panic=10 console=ttyS0\n');
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('status --json reports the slots, versions and boot counter', async () => {
    const s = await statusOf(root);
    assert.equal(s.active_slot, 'B');
    assert.equal(s.passive_slot, 'A');
    assert.equal(s.running_slot, 'B');
    assert.equal(s.boot_counter, 2);
    assert.equal(s.boot_success, false);
    assert.deepEqual(s.slots, { A: { version: 'v1.0.0' }, B: { version: 'v1.1.0' } });
  });

  it('a corrupt grubenv is reported with its code, not shown as a slot state', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ks-status-bad-'));
    try {
      await mkdir(join(dir, 'boot/grub'), { recursive: true });
      await writeFile(join(dir, 'boot/grub/grubenv'), Buffer.alloc(1024, 0x41));
      const r = await runAgent(['status', '--json', '--root', dir]);
      assert.notEqual(r.code, 0);
      assertNamesCode(r.stdout + r.stderr, 'GRUBENV_CORRUPT');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const blockSkip = skip || (await loopSkipReason());
if (blockSkip) console.log(`# status over block slots skipped: ${blockSkip}`);

describe(
  'status over block slots (ext4 on loop devices, found by label)',
  { skip: blockSkip },
  () => {
    let root: string;
    const disks: LoopDisk[] = [];
    before(async () => {
      root = await mkdtemp(join(tmpdir(), 'ks-status-block-'));
      for (const d of ['etc/kubesolo', 'boot/grub', 'proc', 'staging']) {
        await mkdir(join(root, d), { recursive: true });
      }
      const a = await makeLoopDisk({ label: uniqueLabel('KTA'), sizeMiB: 8, dir: root });
      disks.push(a);
      const b = await makeLoopDisk({ label: uniqueLabel('KTB'), sizeMiB: 8, dir: root });
      disks.push(b);
      const staged = await stageImage(join(root, 'staging'), 'v2.0.0');
      await createBlockSlotStore({ log: silentLogger, labels: { A: a.label, B: b.label } }).write(
        'A',
        staged.image,
        staged.digests,
      );
      await writeFile(
        join(root, 'etc/kubesolo/update.conf'),
        `slot_backend=block\nslot_a_label=${a.label}\nslot_b_label=${b.label}\n`,
      );
      const env = join(root, 'boot/grub/grubenv');
      grubEditenvOk(env, 'create');
      grubEditenvOk(env, 'set', 'active_slot=A', 'boot_counter=3', 'boot_success=1');
      await writeFile(join(root, 'proc/cmdline'), 'kubesolo.slot=A panic=10\n');
      // The device's /dev under its root, as a pod sees the host's at /host/dev.
      for (const d of disks) await deviceNodeUnder(root, d.device);
    });
    after(async () => {
      for (const d of disks) await d.cleanup();
      await rm(root, { recursive: true, force: true });
    });

    it('status --json reads the versions from the partitions and leaves nothing mounted', async () => {
      const s = await statusOf(root);
      assert.equal(s.active_slot, 'A');
      assert.equal(s.running_slot, 'A');
      assert.equal(s.boot_success, true);
      assert.deepEqual(s.slots, { A: { version: 'v2.0.0' }, B: { version: null } });
      for (const d of disks) assert.deepEqual(await mountsOf(d.device), []);
    });

    it("a root without those devices never finds the host's disks of the same labels", async () => {
      // The report of issue 25: status --root on a directory found and mounted the host's
      // loop devices by label. The same configuration, no /dev under this root:
      const bare = await mkdtemp(join(tmpdir(), 'ks-status-bare-'));
      try {
        for (const d of ['etc/kubesolo', 'boot/grub', 'proc']) {
          await mkdir(join(bare, d), { recursive: true });
        }
        await writeFile(
          join(bare, 'etc/kubesolo/update.conf'),
          `slot_backend=block\nslot_a_label=${disks[0]!.label}\nslot_b_label=${disks[1]!.label}\n`,
        );
        const r = await runAgent(['status', '--json', '--root', bare]);
        const s = JSON.parse(r.stdout) as Record<string, any>;
        assert.deepEqual(s.slots, { A: { version: null }, B: { version: null } }, r.stdout);
        assertNamesCode(r.stderr, 'SLOT_NOT_FOUND');
        assert.doesNotMatch(r.stdout + r.stderr, new RegExp(disks[0]!.device));
        for (const d of disks) assert.deepEqual(await mountsOf(d.device), []);
      } finally {
        await rm(bare, { recursive: true, force: true });
      }
    });
  },
);
