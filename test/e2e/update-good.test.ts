/**
 * A good update on the real boot chain: slot A runs v1.0.0; the release v2.0.0 reaches
 * the guest on the control disk and is served on the guest's own loopback by
 * `kubesolo-release serve`; `apply` writes it to slot B, `activate` flips the GRUB
 * environment; the next boot starts B, whose health check commits it, and `status`
 * reports B, success and the new version.
 */
import assert from 'node:assert/strict';
import { bootStatus, statusOut } from './helpers/guest.js';
import { stageUpdate } from './helpers/stage-update.js';
import { assertCleanPoweroff, cmdline, fields, mark, watchdogLines } from './helpers/marks.js';
import { committed, scenario } from './helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'e2e: good update A → B',
    test: 'applies, activates, boots B, commits it and reports success',
    device: 'update-good',
  },
  async (dev) => {
    // A-apply-activate: check, apply and activate exit 0, B is on trial in the GRUB
    // environment as grub-editenv reads it from the ESP (what GRUB will read).
    const first = await stageUpdate(suite, dev, 'v2', { check: true });
    assert.match(cmdline(first), /kubesolo\.slot=A/);
    assert.equal(
      fields(mark(first, 'boot ')).health,
      'pass',
      'v1 on A must pass its own health check',
    );
    const staged = statusOut(first);
    assert.equal(staged.running_slot, 'A');
    assert.equal(staged.active_slot, 'B');
    assert.equal(staged.boot_success, false);
    assert.equal(staged.slots.B.version, 'v2.0.0');
    assert.equal(staged.state.phase, 'activated');
    assert.equal(staged.state.to_version, 'v2.0.0');

    const second = await dev.boot('B-commit');
    assertCleanPoweroff(second);
    assert.match(cmdline(second), /kubesolo\.slot=B/);
    const b = fields(mark(second, 'boot '));
    assert.equal(b.release, 'v2.0.0');
    assert.equal(b.health, 'pass');
    const st = bootStatus(second);
    assert.equal(st.running_slot, 'B');
    assert.equal(st.active_slot, 'B');
    assert.equal(st.boot_success, true);
    assert.equal(st.slots.A.version, 'v1.0.0');
    assert.equal(st.slots.B.version, 'v2.0.0');
    assert.equal(st.state.phase, 'success');
    assert.equal(st.state.to_version, 'v2.0.0');
    assert.equal(st.state.from_version, 'v1.0.0');
    assert.deepEqual(await dev.bootEnv(), committed('B'));
    // The commit-deadline watchdog (os/init.d) armed for this trial boot, saw the
    // commit before its 10-minute deadline and disarmed; it never fired.
    const wd = watchdogLines(second);
    const armed = wd
      .map((l) =>
        /^slot B is on trial \(boot_counter=2\): armed, reboot unless committed (\d+) s after boot$/.exec(
          l,
        ),
      )
      .find((m) => m !== null);
    assert.ok(armed, JSON.stringify(wd));
    const deadline = Number(armed[1]);
    assert.equal(deadline, 600, 'commit_deadline default (10 minutes)');
    const disarmed = wd.find((l) => l.startsWith('boot committed (boot_success=1, active_slot=B)'));
    assert.ok(disarmed !== undefined, `watchdog disarmed: ${JSON.stringify(wd)}`);
    const at = Number(/after (\d+) s: disarmed$/.exec(disarmed)?.[1]);
    // Before the deadline is the contract (the watchdog reboots at it); how long before
    // depends on the machine: a loaded host boots the guest in up to 7 minutes.
    assert.ok(at < deadline, `committed ${at} s after boot, not before the ${deadline} s deadline`);
    assert.ok(!wd.some((l) => l.includes('rebooting')), 'the watchdog never fired');
    assert.ok(!second.marks.some((m) => m.startsWith('reboot requested')));
    // A committed boot (slot A, first boot) never arms it.
    assert.ok(watchdogLines(first).some((l) => /not an update trial boot.*not armed/.test(l)));
  },
);
