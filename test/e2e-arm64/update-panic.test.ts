/**
 * A release that never boots, on the arm64 chain: its init dies at once, the kernel
 * panics and `panic=10` reboots. U-Boot's boot.scr counts each try before taking it,
 * tries B three times, then boots A and trusts it; the agent reports rolled_back /
 * BOOT_FALLBACK with the version really running (test/e2e/helpers/bad-update.ts).
 */
import { badUpdate } from '../e2e/helpers/bad-update.js';
import { scenario } from '../e2e/helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'arm64 e2e: a release that never boots (kernel panic at every try)',
    test: 'falls back to slot A after three tries of B',
    device: 'update-panic',
  },
  (dev) => badUpdate(suite, dev, 'v2-panic', { staysBoot: false }),
);
