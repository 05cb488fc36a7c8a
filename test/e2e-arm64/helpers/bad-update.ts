/**
 * A bad update on the arm64 chain, shared by the "unhealthy", "never boots" (panic) and
 * "watchdog" (hang) scenarios: apply + activate a release that never becomes good; U-Boot's
 * boot.scr tries it while the counter lasts, saving each try in the environment file
 * before taking it, then boots the old slot and trusts it; the agent reports
 * rolled_back / BOOT_FALLBACK with the version really running. The harness only powers
 * the VM on for each boot.
 */
import assert from 'node:assert/strict';
import { bootStatus, rc, script, statusOut } from '../../e2e/helpers/guest.js';
import { controlDisk } from '../../e2e/helpers/image.js';
import {
  assertCleanPoweroff,
  cmdline,
  fields,
  mark,
  watchdogLines,
} from '../../e2e/helpers/marks.js';
import type { BootResult } from '../../e2e/helpers/qemu.js';
import { publish } from '../../e2e/helpers/release.js';
import { ARM64_GUEST_LIB, Device, IMAGE, type Layout } from './device.js';

export async function badUpdate(
  layout: Layout,
  name: string,
  release: 'v2-unhealthy' | 'v2-hang' | 'v2-panic',
  opts: { staysBoot?: boolean } = {},
): Promise<void> {
  const dev = await Device.create(name, layout);
  const rel = await publish(release, 'v2.0.0', `${dev.dir}/release`, IMAGE);
  const ctl = await controlDisk(
    dev.dir,
    'apply',
    script(`${ARM64_GUEST_LIB}
serve_httpd /ctl/release || exit 1
agent apply apply --json
agent activate activate --json
agent status status --json
`),
    { release: rel },
  );
  const first = await dev.boot('A-apply-activate', { control: ctl });
  assertCleanPoweroff(first);
  assert.equal(rc(first, 'apply'), 0);
  assert.equal(rc(first, 'activate'), 0);
  assert.equal(statusOut(first).state.phase, 'activated');
  assert.deepEqual(await dev.ubootEnv(), {
    active_slot: 'B',
    boot_counter: '3',
    boot_success: '0',
  });

  for (const left of ['2', '1', '0']) {
    const r = await dev.boot(`B-try-counter-${left}`);
    assert.equal(r.timedOut, false, 'a boot hit its time bound');
    assert.ok(
      r.lines.includes(`KubeSolo: slot B on trial, ${left} tries left after this one`),
      `try ${left}`,
    );
    assert.match(cmdline(r), /kubesolo\.slot=B/);
    assert.equal(fields(mark(r, 'init ')).release, 'v2.0.0');
    if (release === 'v2-panic') {
      assert.ok(r.milestones.panic !== undefined, 'no kernel panic on the console');
      assert.ok(r.panicReset, 'the kernel did not announce its panic restart');
    } else if (release === 'v2-hang') {
      assertWatchdogReboot(r, left);
    } else {
      assertCleanPoweroff(r);
      const boot = fields(mark(r, 'boot '));
      assert.deepEqual([boot.health, boot['health-rc']], ['fail', '5']);
      const st = bootStatus(r);
      assert.equal(st.running_slot, 'B');
      assert.equal(st.boot_success, false, 'an unhealthy slot must never be committed');
    }
    assert.deepEqual(await dev.ubootEnv(), {
      active_slot: 'B',
      boot_counter: left,
      boot_success: '0',
    });
  }

  // Tries used up: boot.scr boots A and marks it good; the agent records the truth.
  const back = await dev.boot('A-fallback');
  assertCleanPoweroff(back);
  assert.ok(back.lines.includes('KubeSolo: slot B did not become good; falling back to slot A'));
  assert.match(cmdline(back), /kubesolo\.slot=A/);
  assert.deepEqual(
    [fields(mark(back, 'boot ')).release, fields(mark(back, 'boot ')).health],
    ['v1.0.0', 'pass'],
  );
  const st = bootStatus(back);
  assert.deepEqual(
    [
      st.running_slot,
      st.active_slot,
      st.boot_success,
      st.state.phase,
      st.state.reason,
      st.state.from_version,
      st.state.to_version,
    ],
    ['A', 'A', true, 'rolled_back', 'BOOT_FALLBACK', 'v1.0.0', 'v2.0.0'],
  );
  assert.deepEqual(await dev.ubootEnv(), {
    active_slot: 'A',
    boot_counter: '3',
    boot_success: '1',
  });
  if (release === 'v2-hang') {
    const reboots = back.marks.filter((m) => /^watchdog-log .*rebooting so GRUB counts/.test(m));
    assert.equal(reboots.length, 3, `three watchdog reboots logged: ${JSON.stringify(back.marks)}`);
    assert.ok(watchdogLines(back).some((l) => /not an update trial boot.*not armed/.test(l)));
  }

  if (opts.staysBoot) {
    // No ping-pong: the next boot is A again, and the report does not change.
    const again = await dev.boot('A-stays');
    assertCleanPoweroff(again);
    assert.ok(again.lines.includes('KubeSolo: decision action=boot slot=A'));
    const st2 = bootStatus(again);
    assert.deepEqual(
      [st2.running_slot, st2.state.phase, st2.state.reason],
      ['A', 'rolled_back', 'BOOT_FALLBACK'],
    );
    assert.deepEqual(await dev.ubootEnv(), {
      active_slot: 'A',
      boot_counter: '3',
      boot_success: '1',
    });
  }
}

/** A boot of the hanging release: armed, fired at its deadline, the init rebooted. */
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
  assert.match(fired, new RegExp(`boot_success=0 boot_counter=${left}\\): rebooting`));
  const at = Number(/not committed (\d+) s after boot/.exec(fired)?.[1]);
  assert.ok(at >= 45, `fired at ${at} s, not before the 45 s deadline`);
  assert.ok(
    r.marks.some((m) => m.startsWith('reboot requested')),
    'the init got the reboot request',
  );
  assert.ok(!r.marks.some((m) => m.startsWith('boot ')), 'the health check never finished');
  assert.ok(!r.marks.some((m) => m.startsWith('poweroff')), 'nothing powered the VM off');
}
