/**
 * "Kubernetes never comes up": a release whose health check waits forever (it never
 * exits, never commits) and whose agent nothing else starts. With no action from the
 * harness but powering the VM on after each reboot, the OS's commit-deadline watchdog
 * (os/init.d, run by the test OS's init as KubeSolo OS runs it) reboots each trial boot
 * at its deadline, GRUB tries slot B three times and boots A, and `status --json`
 * reports rolled_back / BOOT_FALLBACK with the version really running
 * (helpers/bad-update.ts).
 */
import { before, describe, it } from 'node:test';
import { badUpdate } from './helpers/bad-update.js';
import type { Layout } from './helpers/image.js';
import { setUp, skipReason } from './helpers/suite.js';

describe(
  'e2e: bad update (Kubernetes never comes up, health check hangs)',
  { skip: skipReason },
  () => {
    let layout: Layout;
    before(async () => {
      layout = await setUp();
    });

    it('the watchdog reboots each try at its deadline; GRUB falls back to A', async () => {
      await badUpdate(layout, 'update-hang', 'v2-hang');
    });
  },
);
