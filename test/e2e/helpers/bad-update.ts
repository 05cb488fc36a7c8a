/**
 * A bad update on the real boot chain of either suite, shared by the "unhealthy", "hang"
 * and "panic" scenarios of both: apply + activate a release that never becomes good, let
 * the bootloader (GRUB's grub.cfg, U-Boot's boot.scr) try it until the boot counter runs
 * out, each try saved in the A/B environment before it is taken, and check that the
 * device is back on the old slot and trusts it, that the agent tells the truth
 * (rolled_back, BOOT_FALLBACK, the version really running) and that it stays there. The
 * harness only powers the VM on for each boot; with `v2-hang` nothing but the OS's own
 * commit-deadline watchdog (os/init.d) ends a boot of the new slot.
 */
import assert from 'node:assert/strict';
import { bootStatus } from './guest.js';
import type { TestDevice } from './host.js';
import { assertCleanPoweroff, cmdline, fields, mark, watchdogLines } from './marks.js';
import type { BootResult } from './qemu.js';
import { committed, onTrial, type Suite } from './scenario.js';
import { stageUpdate } from './stage-update.js';

export type BadRelease = 'v2-unhealthy' | 'v2-hang' | 'v2-panic';

export async function badUpdate<L, D extends TestDevice<L>>(
  suite: Suite<L, D>,
  dev: D,
  release: BadRelease,
  /** staysBoot: one more boot after the fallback, which must stay on A (no ping-pong). */
  opts: { staysBoot: boolean },
): Promise<void> {
  await stageUpdate(suite, dev, release);

  // The bootloader tries B while the counter lasts; each try is saved before it is taken.
  for (const left of ['2', '1', '0']) {
    const r = await dev.boot(`B-try-counter-${left}`);
    assert.equal(r.timedOut, false, 'a boot hit its time bound');
    if (suite.decisions) assert.ok(r.lines.includes(suite.decisions.trial(left)), `try ${left}`);
    assert.match(cmdline(r), /kubesolo\.slot=B/);
    assert.equal(fields(mark(r, 'init ')).release, 'v2.0.0');
    assertBadTry(r, release, left);
    assert.deepEqual(await dev.bootEnv(), onTrial('B', left));
  }

  // Counter used up: the bootloader boots A, marks it good; the agent records the truth.
  const back = await dev.boot('A-fallback');
  assertCleanPoweroff(back);
  if (suite.decisions) assert.ok(back.lines.includes(suite.decisions.fallback));
  assert.match(cmdline(back), /kubesolo\.slot=A/);
  assert.equal(fields(mark(back, 'boot ')).release, 'v1.0.0');
  assert.equal(fields(mark(back, 'boot ')).health, 'pass');
  const st = bootStatus(back);
  assert.equal(st.running_slot, 'A');
  assert.equal(st.active_slot, 'A');
  assert.equal(st.boot_success, true);
  assert.equal(st.state.phase, 'rolled_back');
  assert.equal(st.state.reason, 'BOOT_FALLBACK');
  assert.equal(st.state.from_version, 'v1.0.0', 'the report names the version really running');
  assert.equal(st.state.to_version, 'v2.0.0');
  assert.equal(st.slots.A.version, 'v1.0.0');
  assert.deepEqual(await dev.bootEnv(), committed('A'));
  if (release === 'v2-hang') {
    // The reason of each reboot survived it, on the data partition.
    const reboots = back.marks.filter((m) => /^watchdog-log .*rebooting so GRUB counts/.test(m));
    assert.equal(reboots.length, 3, `three watchdog reboots logged: ${JSON.stringify(back.marks)}`);
    assert.ok(watchdogLines(back).some((l) => /not an update trial boot.*not armed/.test(l)));
  }
  if (!opts.staysBoot) return;

  // No ping-pong: the next boot is A again, and the report does not change.
  const again = await dev.boot('A-stays');
  assertCleanPoweroff(again);
  if (suite.decisions) assert.ok(again.lines.includes(suite.decisions.bootA));
  assert.match(cmdline(again), /kubesolo\.slot=A/);
  const st2 = bootStatus(again);
  assert.equal(st2.running_slot, 'A');
  assert.equal(st2.state.phase, 'rolled_back');
  assert.equal(st2.state.reason, 'BOOT_FALLBACK');
  assert.deepEqual(await dev.bootEnv(), committed('A'));
}

/** One try of the bad release on B: how it failed, by release. */
function assertBadTry(r: BootResult, release: BadRelease, left: string): void {
  if (release === 'v2-panic') {
    assert.ok(r.milestones.panic !== undefined, 'no kernel panic on the console');
    assert.ok(r.panicReset, 'the kernel did not announce its panic restart');
  } else if (release === 'v2-hang') {
    assertWatchdogReboot(r, left);
  } else {
    assertCleanPoweroff(r);
    const boot = fields(mark(r, 'boot '));
    assert.equal(boot.health, 'fail');
    assert.equal(boot['health-rc'], '5', 'a failed health check exits 5 (docs/design.md §3.7)');
    const st = bootStatus(r);
    assert.equal(st.running_slot, 'B');
    assert.equal(st.boot_success, false, 'an unhealthy slot must never be committed');
    assert.notEqual(st.state.phase, 'success');
  }
}

/**
 * A boot of the hanging release: the health check never finished, the watchdog armed,
 * fired at its deadline with the reason, and the init rebooted on its request (no
 * power-off, no help from the harness).
 */
function assertWatchdogReboot(r: BootResult, left: string): void {
  const wd = watchdogLines(r);
  assert.ok(
    wd.includes(
      `slot B is on trial (boot_counter=${left}): armed, reboot unless committed 45 s after boot`,
    ),
    `watchdog armed: ${JSON.stringify(wd)}`,
  );
  const fired = wd.find((l) => l.includes('still not committed'));
  assert.ok(fired !== undefined, `watchdog fired: ${JSON.stringify(wd)}`);
  assert.match(
    fired,
    new RegExp(`boot_success=0 boot_counter=${left}\\): rebooting so GRUB counts the try`),
  );
  const at = Number(/not committed (\d+) s after boot/.exec(fired)?.[1]);
  assert.ok(at >= 45, `fired at ${at} s, not before the 45 s deadline`);
  assert.ok(
    r.marks.some((m) => m.startsWith('reboot requested')),
    'the init got the reboot request',
  );
  assert.ok(!r.marks.some((m) => m.startsWith('boot ')), 'the health check never finished');
  assert.ok(!r.marks.some((m) => m.startsWith('poweroff')), 'nothing powered the VM off');
}
