/**
 * GRUB's boot counter on a real boot chain, without the agent: slot B holds a release
 * whose init dies (kernel panic, `panic=10` reboots), the environment says "try B"
 * (active_slot=B, boot_counter=3, boot_success=0, as `activate` leaves it). GRUB must
 * try B while the counter lasts, then boot A, mark it good, and stay on A.
 */
import assert from 'node:assert/strict';
import { cmdline, fields, mark } from './helpers/marks.js';
import { committed, onTrial, scenario } from './helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'e2e: GRUB counter falls back from a panicking slot',
    test: 'tries B three times, then boots A and stays there',
    device: 'grub-fallback',
  },
  async (dev) => {
    await dev.writeSlot('B', 'v2-panic');
    await dev.setGrubenv(onTrial('B'));

    const counters: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const r = await dev.boot(`try-B-${i}`);
      assert.equal(r.timedOut, false, `boot ${i} hit its time bound`);
      assert.match(cmdline(r), /kubesolo\.slot=B/, `boot ${i} did not boot B`);
      assert.equal(fields(mark(r, 'init ')).mode, 'panic');
      assert.ok(r.milestones.panic !== undefined, `boot ${i}: no kernel panic on the console`);
      assert.ok(r.panicReset, `boot ${i}: the kernel did not announce its panic restart`);
      const env = await dev.bootEnv();
      assert.equal(env.active_slot, 'B');
      assert.equal(env.boot_success, '0');
      counters.push(env.boot_counter ?? '');
    }
    // Each try spends one unit of the counter, saved by GRUB's save_env on the ESP.
    assert.deepEqual(counters, ['2', '1', '0']);

    const back = await dev.boot('fallback-A');
    assert.equal(back.timedOut, false);
    assert.match(cmdline(back), /kubesolo\.slot=A/);
    assert.equal(fields(mark(back, 'init ')).release, 'v1.0.0');
    assert.ok(back.marks.some((m) => m.startsWith('poweroff')));
    assert.deepEqual(await dev.bootEnv(), committed('A'));

    // No ping-pong: the old slot is trusted from now on.
    const again = await dev.boot('stays-A');
    assert.match(cmdline(again), /kubesolo\.slot=A/);
    assert.deepEqual(await dev.bootEnv(), committed('A'));
  },
);
