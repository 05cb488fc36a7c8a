/**
 * The boot chain itself, on the factory image: UEFI firmware (OVMF) → GRUB from the ESP
 * → the project's grub.cfg → Linux and the test OS initramfs from slot A → init mounts
 * the data partition and the ESP, runs the agent, runs the per-boot control script from
 * the second disk, and powers off.
 */
import assert from 'node:assert/strict';
import { bootFactory } from './helpers/factory-boot.js';
import { fields, mark } from './helpers/marks.js';
import { scenario } from './helpers/scenario.js';
import { suite } from './helpers/suite.js';
import { PACKAGE_VERSION } from '../helpers/executables.js';

scenario(
  suite,
  {
    title: 'e2e: boot chain (OVMF → GRUB → slot A)',
    test: 'boots the factory image from slot A and runs the control script',
    device: 'boot-chain',
  },
  async (dev) => {
    const r = await bootFactory(dev, [
      'echo "KSOLO-E2E: ctl mounts $(grep -c -E " /var/lib/kubesolo ext4 | /run/esp vfat " /proc/mounts)"',
      // The test OS carries the single-file agent and no Node.js (docs/runtime.md).
      'echo "KSOLO-E2E: ctl agent $(kubesolo-update --version) node $(command -v node || echo none)"',
      'echo "KSOLO-E2E: ctl grubenv-visible $(test -f /boot/grub/grubenv && echo yes || echo no)"',
      'slot_version A',
    ]);
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
  },
);
