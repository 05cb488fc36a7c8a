/**
 * The commit-deadline watchdog on the arm64 chain: a release whose Kubernetes never
 * comes up (its health check waits forever, nothing commits). The OS's watchdog stage
 * (os/init.d), reading U-Boot's environment through fw_printenv, reboots each trial boot
 * at its 45 s deadline; U-Boot's boot.scr counts the tries and falls back to A; the agent
 * reports rolled_back / BOOT_FALLBACK (test/e2e/helpers/bad-update.ts).
 */
import { badUpdate } from '../e2e/helpers/bad-update.js';
import { scenario } from '../e2e/helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'arm64 e2e: bad update (Kubernetes never comes up: the commit-deadline watchdog)',
    test: 'the watchdog reboots each try at its deadline; U-Boot falls back to A',
    device: 'update-hang',
  },
  (dev) => badUpdate(suite, dev, 'v2-hang', { staysBoot: false }),
);
