/**
 * The first boot of a factory image, the boot chain scenario of both suites: slot A is
 * committed, the device boots it with a probe script on the control disk, powers off
 * cleanly, and the bootloader and the agent leave the A/B environment as it was.
 */
import assert from 'node:assert/strict';
import { script } from './guest.js';
import type { TestDevice } from './host.js';
import { controlDisk } from './image.js';
import { assertCleanPoweroff, cmdline, fields, mark } from './marks.js';
import type { BootResult } from './qemu.js';
import { committed } from './scenario.js';

/** Boot the factory image once with `probe` (guest shell lines); the boot, for more checks. */
export async function bootFactory<L>(dev: TestDevice<L>, probe: string[]): Promise<BootResult> {
  assert.deepEqual(await dev.bootEnv(), committed('A'));
  const control = await controlDisk(dev.dir, 'probe', script(probe.join('\n')));
  const r = await dev.boot('factory', { control });
  assertCleanPoweroff(r);
  const cl = cmdline(r);
  assert.match(cl, /(^| )kubesolo\.slot=A( |$)/);
  assert.match(cl, /(^| )panic=10( |$)/);
  assert.equal(fields(mark(r, 'init ')).release, 'v1.0.0');
  assert.equal(mark(r, 'control rc='), 'control rc=0');
  // A committed slot: the bootloader's script and the agent leave the environment alone.
  assert.deepEqual(await dev.bootEnv(), committed('A'));
  return r;
}
