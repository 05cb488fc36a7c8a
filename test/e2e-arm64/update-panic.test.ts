/**
 * A release that never boots, on the arm64 chain: its init dies at once, the kernel
 * panics and `panic=10` reboots. U-Boot's boot.scr counts each try before taking it,
 * tries B three times, then boots A and trusts it; the agent reports rolled_back /
 * BOOT_FALLBACK with the version really running (helpers/bad-update.ts).
 */
import { before, describe, it } from 'node:test';
import { badUpdate } from './helpers/bad-update.js';
import type { Layout } from './helpers/device.js';
import { setUp, skipReason } from './helpers/suite.js';

describe(
  'arm64 e2e: a release that never boots (kernel panic at every try)',
  { skip: skipReason },
  () => {
    let layout: Layout;
    before(async () => {
      layout = await setUp();
    });

    it('falls back to slot A after three tries of B', async () => {
      await badUpdate(layout, 'update-panic', 'v2-panic');
    });
  },
);
