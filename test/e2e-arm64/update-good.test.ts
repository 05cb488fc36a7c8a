/**
 * A good update on the arm64 chain: slot A runs v1.0.0; v2.0.0 reaches the guest on the
 * control disk and busybox httpd serves it on the guest's loopback; `apply` writes it to
 * slot B (the agent's block slot store), `activate` writes the A/B environment file on
 * the boot partition (the agent's codec, in place on FAT); U-Boot's boot.scr counts the
 * try and boots B; B's health check commits it; `status` reports B, success and the new
 * version. The commit-deadline watchdog, reading the U-Boot environment through
 * fw_printenv, arms for the trial boot and disarms on the commit.
 */
import assert from 'node:assert/strict';
import { bootStatus, statusOut } from '../e2e/helpers/guest.js';
import { stageUpdate } from '../e2e/helpers/stage-update.js';
import { assertCleanPoweroff, cmdline, fields, mark, watchdogLines } from '../e2e/helpers/marks.js';
import { committed, scenario } from '../e2e/helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'arm64 e2e: good update A → B through U-Boot',
    test: 'applies, activates, U-Boot tries B, the health check commits it',
    device: 'update-good',
  },
  async (dev) => {
    // A-apply-activate: apply and activate exit 0, B is on trial in the environment file
    // as fw_printenv reads it on the host.
    const first = await stageUpdate(suite, dev, 'v2', {
      after: `mark "fw_printenv $(fw_printenv active_slot boot_counter boot_success | tr '\\n' ' ')"`,
    });
    const staged = statusOut(first);
    assert.deepEqual(
      [
        staged.running_slot,
        staged.active_slot,
        staged.boot_success,
        staged.slots.B.version,
        staged.state.phase,
      ],
      ['A', 'B', false, 'v2.0.0', 'activated'],
    );
    // The OS's tool reads what the agent wrote in the guest too.
    assert.equal(
      mark(first, 'fw_printenv '),
      'fw_printenv active_slot=B boot_counter=3 boot_success=0 ',
    );

    const second = await dev.boot('B-commit');
    assertCleanPoweroff(second);
    assert.ok(second.lines.includes('KubeSolo: slot B on trial, 2 tries left after this one'));
    assert.match(cmdline(second), /kubesolo\.slot=B/);
    const b = fields(mark(second, 'boot '));
    assert.deepEqual([b.release, b.health], ['v2.0.0', 'pass']);
    const st = bootStatus(second);
    assert.deepEqual(
      [
        st.running_slot,
        st.active_slot,
        st.boot_success,
        st.state.phase,
        st.state.from_version,
        st.state.to_version,
      ],
      ['B', 'B', true, 'success', 'v1.0.0', 'v2.0.0'],
    );
    assert.deepEqual(await dev.bootEnv(), committed('B'));
    const wd = watchdogLines(second);
    assert.ok(
      wd.includes(
        'slot B is on trial (boot_counter=2): armed, reboot unless committed 600 s after boot',
      ),
      JSON.stringify(wd),
    );
    assert.ok(
      wd.some((l) => l.startsWith('boot committed (boot_success=1, active_slot=B)')),
      JSON.stringify(wd),
    );
    assert.ok(!wd.some((l) => l.includes('rebooting')), 'the watchdog never fired');
    assert.ok(watchdogLines(first).some((l) => /not an update trial boot.*not armed/.test(l)));
  },
);
