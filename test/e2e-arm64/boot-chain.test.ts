/**
 * The arm64 boot chain on the factory image: Debian's qemu_arm64 U-Boot (its own
 * environment blank, so its built-in one) → distro boot finds boot.scr on the boot
 * partition → the A/B decision from the environment file → booti of slot A's arm64
 * kernel and the test OS → the arm64 agent executable runs (no Node.js in the image),
 * reads the U-Boot environment with its own codec, and the OS's fw_printenv reads the
 * same file. No network device (-nodefaults).
 */
import assert from 'node:assert/strict';
import { bootFactory } from '../e2e/helpers/factory-boot.js';
import { bootStatus } from '../e2e/helpers/guest.js';
import { PACKAGE_VERSION } from '../helpers/executables.js';
import { fields, mark } from '../e2e/helpers/marks.js';
import { scenario } from '../e2e/helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'arm64 e2e: boot chain (U-Boot → boot.scr → slot A)',
    test: 'boots the factory image from slot A through U-Boot and runs the arm64 agent',
    device: 'boot-chain',
  },
  async (dev) => {
    const r = await bootFactory(dev, [
      'mark "ctl arch $(uname -m) agent $(kubesolo-update --version) node $(command -v node || echo none)"',
      'mark "ctl fw_printenv $(fw_printenv boot_success)"',
      // -nodefaults: no network device but loopback.
      "mark \"ctl nics $(ls /sys/class/net | tr '\\n' ' ')\"",
    ]);
    // U-Boot's own environment is blank: it boots its built-in one, whose distro boot
    // runs the project's script, which reads the environment file.
    assert.ok(r.lines.some((l) => l.includes('bad CRC, using default environment')));
    assert.ok(r.lines.some((l) => l === 'Found U-Boot script /boot.scr'));
    assert.ok(r.lines.includes('KubeSolo: A/B variables from /kubesolo.env'));
    assert.ok(r.lines.includes('KubeSolo: decision action=boot slot=A'));
    assert.equal(mark(r, 'ctl arch '), `ctl arch aarch64 agent ${PACKAGE_VERSION} node none`);
    assert.equal(mark(r, 'ctl fw_printenv '), 'ctl fw_printenv boot_success=1');
    assert.equal(mark(r, 'ctl nics '), 'ctl nics lo ');
    assert.equal(fields(mark(r, 'boot ')).health, 'pass');
    const st = bootStatus(r);
    assert.equal((st as unknown as { bootloader: string }).bootloader, 'uboot');
    assert.deepEqual(
      [st.active_slot, st.running_slot, st.boot_counter, st.boot_success, st.slots.A.version],
      ['A', 'A', 3, true, 'v1.0.0'],
    );
  },
);
