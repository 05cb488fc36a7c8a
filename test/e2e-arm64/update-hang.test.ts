/**
 * The commit-deadline watchdog on the arm64 chain: a release whose Kubernetes never
 * comes up (its health check waits forever, nothing commits). The OS's watchdog stage
 * (os/init.d), reading U-Boot's environment through fw_printenv, reboots each trial boot
 * at its 45 s deadline; U-Boot's boot.scr counts the tries and falls back to A; the agent
 * reports rolled_back / BOOT_FALLBACK (helpers/bad-update.ts).
 */
import { before, describe, it } from 'node:test';
import { badUpdate } from './helpers/bad-update.js';
import type { Layout } from './helpers/device.js';
import { setUp, skipReason } from './helpers/suite.js';

describe(
  'arm64 e2e: bad update (Kubernetes never comes up: the commit-deadline watchdog)',
  { skip: skipReason },
  () => {
    let layout: Layout;
    before(async () => {
      layout = await setUp();
    });

    it('the watchdog reboots each try at its deadline; U-Boot falls back to A', async () => {
      await badUpdate(layout, 'update-hang', 'v2-hang');
    });
  },
);
