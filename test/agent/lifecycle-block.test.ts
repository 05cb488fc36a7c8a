/**
 * The lifecycle once on `block` slots (issue #5 Tests): two real ext4 filesystems on
 * loop devices found by label, the real agent bundle, a signed release on loopback.
 * Needs root; skips with the reason where loop devices cannot be made.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runAgent } from '../helpers/cli.js';
import {
  makeKeys,
  makeSignedDevice,
  publishRelease,
  useReleaseServer,
  type Device,
} from '../helpers/device.js';
import {
  loopSkipReason,
  deviceNodeUnder,
  makeLoopDisk,
  mountsOf,
  uniqueLabel,
  type LoopDisk,
} from '../helpers/loop.js';

const skip = await loopSkipReason();
if (skip) console.log(`# SKIP block-slot lifecycle: ${skip}`);

describe('lifecycle over block slots (loop devices)', { skip }, () => {
  const keys = makeKeys();
  const fixture = useReleaseServer();
  let dev: Device;
  let slotA: LoopDisk;
  let slotB: LoopDisk;

  before(async () => {
    slotA = await makeLoopDisk({ label: uniqueLabel('KA'), sizeMiB: 16 });
    slotB = await makeLoopDisk({ label: uniqueLabel('KB'), sizeMiB: 16 });
    // Slot A holds the running OS v1.0.0.
    const mnt = await mkdtemp(join(tmpdir(), 'ks-mnt-'));
    execFileSync('mount', [slotA.device, mnt]);
    try {
      await writeFile(join(mnt, 'vmlinuz'), 'kernel v1');
      await writeFile(join(mnt, 'kubesolo-os.gz'), 'initramfs v1');
      await writeFile(join(mnt, 'version'), 'v1.0.0\n');
    } finally {
      execFileSync('umount', [mnt]);
      await rm(mnt, { recursive: true, force: true });
    }
    dev = await makeSignedDevice(fixture.server, keys, {
      slot_backend: 'block',
      slot_a_label: slotA.label,
      slot_b_label: slotB.label,
    });
    // The device's /dev under its root (with --root only block devices there are used).
    for (const d of [slotA, slotB]) await deviceNodeUnder(dev.root, d.device);
    await publishRelease(fixture.dir, {
      version: 'v1.1.0',
      keys,
      kernelBytes: 2 << 20,
      initramfsBytes: 6 << 20,
    });
  });
  after(async () => {
    await slotA?.cleanup();
    await slotB?.cleanup();
    await dev?.cleanup();
  });

  it('check → apply → activate → reboot → status, with nothing left mounted', async () => {
    const root = ['--root', dev.root, '--json'];
    const c = await runAgent(['check', ...root]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(JSON.parse(c.stdout).current_version, 'v1.0.0');

    const a = await runAgent(['apply', '--activate', ...root]);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(await mountsOf(slotA.device), []);
    assert.deepEqual(await mountsOf(slotB.device), []);

    // What is on slot B's filesystem is exactly the release.
    const mnt = await mkdtemp(join(tmpdir(), 'ks-mnt-'));
    execFileSync('mount', ['-o', 'ro', slotB.device, mnt]);
    try {
      assert.equal((await readFile(join(mnt, 'version'), 'utf8')).trim(), 'v1.1.0');
      assert.deepEqual(
        await readFile(join(mnt, 'vmlinuz')),
        await readFile(join(fixture.dir, 'v1.1.0/vmlinuz')),
      );
      assert.deepEqual(
        await readFile(join(mnt, 'kubesolo-os.gz')),
        await readFile(join(fixture.dir, 'v1.1.0/kubesolo-os.gz')),
      );
    } finally {
      execFileSync('umount', [mnt]);
      await rm(mnt, { recursive: true, force: true });
    }

    assert.equal(await dev.reboot(), 'B');
    const s = await runAgent(['status', ...root]);
    assert.equal(s.code, 0, s.stderr);
    const doc = JSON.parse(s.stdout);
    assert.equal(doc.running_slot, 'B');
    assert.deepEqual(doc.slots, { A: { version: 'v1.0.0' }, B: { version: 'v1.1.0' } });
    assert.equal(doc.state.phase, 'activated');
    assert.deepEqual(await mountsOf(slotB.device), []);
  });
});
