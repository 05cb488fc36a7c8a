/**
 * The boot chain itself, on the factory image: UEFI firmware (OVMF) → GRUB from the ESP
 * → the project's grub.cfg → Linux and the test OS initramfs from slot A → init mounts
 * the data partition and the ESP, runs the agent, runs the per-boot control script from
 * the second disk, and powers off.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { script } from './helpers/guest.js';
import { controlDisk, Device, type Layout } from './helpers/image.js';
import { assertCleanPoweroff, cmdline, fields, mark, setUp, skipReason } from './helpers/suite.js';
import { PACKAGE_VERSION } from '../helpers/executables.js';

describe('e2e: boot chain (OVMF → GRUB → slot A)', { skip: skipReason }, () => {
  let layout: Layout;
  before(async () => {
    layout = await setUp();
  });

  it('boots the factory image from slot A and runs the control script', async () => {
    const dev = await Device.create('boot-chain', layout);
    assert.deepEqual(await dev.grubenv(), {
      active_slot: 'A',
      boot_counter: '3',
      boot_success: '1',
    });
    const ctl = await controlDisk(
      dev.dir,
      'probe',
      script(
        [
          'echo "KSOLO-E2E: ctl mounts $(grep -c -E " /var/lib/kubesolo ext4 | /run/esp vfat " /proc/mounts)"',
          // The test OS carries the single-file agent and no Node.js (docs/runtime.md).
          'echo "KSOLO-E2E: ctl agent $(kubesolo-update --version) node $(command -v node || echo none)"',
          'echo "KSOLO-E2E: ctl grubenv-visible $(test -f /boot/grub/grubenv && echo yes || echo no)"',
          'slot_version A',
        ].join('\n'),
      ),
    );
    const r = await dev.boot('factory', { control: ctl });
    assertCleanPoweroff(r);
    const cl = cmdline(r);
    assert.match(cl, /(^| )kubesolo\.slot=A( |$)/);
    assert.match(cl, /(^| )panic=10( |$)/);
    assert.deepEqual(fields(mark(r, 'init ')), {
      release: 'v1.0.0',
      mode: 'good',
      slot: 'A',
      uptime: fields(mark(r, 'init ')).uptime,
    });
    assert.equal(mark(r, 'ctl mounts '), 'ctl mounts 2');
    assert.equal(mark(r, 'ctl agent '), `ctl agent ${PACKAGE_VERSION} node none`);
    assert.equal(mark(r, 'ctl grubenv-visible '), 'ctl grubenv-visible yes');
    assert.equal(mark(r, 'slot-version A'), 'slot-version A v1.0.0');
    assert.equal(mark(r, 'control rc='), 'control rc=0');
    // A committed slot: GRUB leaves the environment alone.
    assert.deepEqual(await dev.grubenv(), {
      active_slot: 'A',
      boot_counter: '3',
      boot_success: '1',
    });
  });
});
