/**
 * The first boot of every update scenario of both suites: slot A serves a release
 * published from the suite's image on the guest's loopback, the agent applies it to
 * slot B and activates it, and the device is left with B on trial, as the agent's
 * `status` and the bootloader's own tool (on the host) both say.
 */
import assert from 'node:assert/strict';
import { rc, script, statusOut } from './guest.js';
import type { TestDevice } from './host.js';
import { controlDisk } from './image.js';
import { assertCleanPoweroff } from './marks.js';
import type { BootResult } from './qemu.js';
import { publish } from './release.js';
import { onTrial, type Suite } from './scenario.js';

export async function stageUpdate<L, D extends TestDevice<L>>(
  suite: Suite<L, D>,
  dev: D,
  /** The test OS release (boot/e2e) published as v2.0.0. */
  release: string,
  /** check: run `check` before `apply` (must exit 0); after: more guest shell at the end. */
  opts: { check?: boolean; after?: string } = {},
): Promise<BootResult> {
  const rel = await publish(release, 'v2.0.0', `${dev.dir}/release`, suite.image);
  const commands = [
    suite.serveRelease,
    ...(opts.check ? ['agent check check --json'] : []),
    'agent apply apply --json',
    'agent activate activate --json',
    'agent status status --json',
    opts.after ?? '',
  ];
  const ctl = await controlDisk(dev.dir, 'apply', script(commands.join('\n')), { release: rel });
  const first = await dev.boot('A-apply-activate', { control: ctl });
  assertCleanPoweroff(first);
  if (opts.check) assert.equal(rc(first, 'check'), 0);
  assert.equal(rc(first, 'apply'), 0);
  assert.equal(rc(first, 'activate'), 0);
  assert.equal(statusOut(first).state.phase, 'activated');
  assert.deepEqual(await dev.bootEnv(), onTrial('B'));
  return first;
}
