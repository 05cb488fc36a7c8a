/**
 * The arm64 boot chain on the factory image: Debian's qemu_arm64 U-Boot (its own
 * environment blank, so its built-in one) → distro boot finds boot.scr on the boot
 * partition → the A/B decision from the environment file → booti of slot A's arm64
 * kernel and the test OS → the arm64 agent executable runs (no Node.js in the image),
 * reads the U-Boot environment with its own codec, and the OS's fw_printenv reads the
 * same file. No network device (-nodefaults).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { bootStatus, script } from '../e2e/helpers/guest.js';
import { controlDisk } from '../e2e/helpers/image.js';
import { assertCleanPoweroff, cmdline, fields, mark } from '../e2e/helpers/marks.js';
import { PACKAGE_VERSION } from '../helpers/executables.js';
import { Device, type Layout } from './helpers/device.js';
import { setUp, skipReason } from './helpers/suite.js';

describe('arm64 e2e: boot chain (U-Boot → boot.scr → slot A)', { skip: skipReason }, () => {
  let layout: Layout;
  before(async () => {
    layout = await setUp();
  });

  it('boots the factory image from slot A through U-Boot and runs the arm64 agent', async () => {
    const dev = await Device.create('boot-chain', layout);
    assert.deepEqual(await dev.ubootEnv(), {
      active_slot: 'A',
      boot_counter: '3',
      boot_success: '1',
    });
    const ctl = await controlDisk(
      dev.dir,
      'probe',
      script(
        [
          'mark "ctl arch $(uname -m) agent $(kubesolo-update --version) node $(command -v node || echo none)"',
          'mark "ctl fw_printenv $(fw_printenv boot_success)"',
          // -nodefaults: no network device but loopback.
          "mark \"ctl nics $(ls /sys/class/net | tr '\\n' ' ')\"",
        ].join('\n'),
      ),
    );
    const r = await dev.boot('factory', { control: ctl });
    assertCleanPoweroff(r);
    // U-Boot's own environment is blank: it boots its built-in one, whose distro boot
    // runs the project's script, which reads the environment file.
    assert.ok(r.lines.some((l) => l.includes('bad CRC, using default environment')));
    assert.ok(r.lines.some((l) => l === 'Found U-Boot script /boot.scr'));
    assert.ok(r.lines.includes('KubeSolo: A/B variables from /kubesolo.env'));
    assert.ok(r.lines.includes('KubeSolo: decision action=boot slot=A'));
    const cl = cmdline(r);
    assert.match(cl, /(^| )kubesolo\.slot=A( |$)/);
    assert.match(cl, /(^| )panic=10( |$)/);
    assert.equal(fields(mark(r, 'init ')).release, 'v1.0.0');
    assert.equal(mark(r, 'ctl arch '), `ctl arch aarch64 agent ${PACKAGE_VERSION} node none`);
    assert.equal(mark(r, 'ctl fw_printenv '), 'ctl fw_printenv boot_success=1');
    assert.equal(mark(r, 'ctl nics '), 'ctl nics lo ');
    assert.equal(mark(r, 'control rc='), 'control rc=0');
    assert.equal(fields(mark(r, 'boot ')).health, 'pass');
    const st = bootStatus(r);
    assert.equal((st as unknown as { bootloader: string }).bootloader, 'uboot');
    assert.deepEqual(
      [st.active_slot, st.running_slot, st.boot_counter, st.boot_success, st.slots.A.version],
      ['A', 'A', 3, true, 'v1.0.0'],
    );
    // A committed boot: U-Boot's script and the agent leave the environment alone.
    assert.deepEqual(await dev.ubootEnv(), {
      active_slot: 'A',
      boot_counter: '3',
      boot_success: '1',
    });
  });
});
