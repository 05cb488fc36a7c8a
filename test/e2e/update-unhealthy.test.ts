/**
 * Bad update, health check fails on every boot: GRUB's boot counter runs out, the device boots the
 * old slot again, the agent reports rolled_back / BOOT_FALLBACK with the old version,
 * and the device stays on the old slot (helpers/bad-update.ts).
 */
import { before, describe, it } from 'node:test';
import { badUpdate } from './helpers/bad-update.js';
import type { Layout } from './helpers/image.js';
import { setUp, skipReason } from './helpers/suite.js';

describe('e2e: bad update (health check fails on every boot)', { skip: skipReason }, () => {
  let layout: Layout;
  before(async () => {
    layout = await setUp();
  });

  it('falls back to slot A after three tries of B and stays there', async () => {
    await badUpdate(layout, 'update-unhealthy', 'v2-unhealthy');
  });
});
