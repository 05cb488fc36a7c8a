/**
 * "Kubernetes never comes up": a release whose health check waits forever (it never
 * exits, never commits) and whose agent nothing else starts. With no action from the
 * harness but powering the VM on after each reboot, the OS's commit-deadline watchdog
 * (os/init.d, run by the test OS's init as KubeSolo OS runs it) reboots each trial boot
 * at its deadline, GRUB tries slot B three times and boots A, and `status --json`
 * reports rolled_back / BOOT_FALLBACK with the version really running
 * (helpers/bad-update.ts).
 */
import { badUpdate } from './helpers/bad-update.js';
import { scenario } from './helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'e2e: bad update (Kubernetes never comes up, health check hangs)',
    test: 'the watchdog reboots each try at its deadline; GRUB falls back to A',
    device: 'update-hang',
  },
  (dev) => badUpdate(suite, dev, 'v2-hang', { staysBoot: true }),
);
