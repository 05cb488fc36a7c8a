/**
 * Bad update, kernel panic on every boot: GRUB's boot counter runs out, the device boots the
 * old slot again, the agent reports rolled_back / BOOT_FALLBACK with the old version,
 * and the device stays on the old slot (helpers/bad-update.ts).
 */
import { badUpdate } from './helpers/bad-update.js';
import { scenario } from './helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'e2e: bad update (kernel panic on every boot)',
    test: 'falls back to slot A after three tries of B and stays there',
    device: 'update-panic',
  },
  (dev) => badUpdate(suite, dev, 'v2-panic', { staysBoot: true }),
);
