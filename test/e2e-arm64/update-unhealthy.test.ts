/**
 * Bad update on the arm64 chain (the health check fails on every boot): U-Boot's boot.scr
 * tries B three times, then boots A and trusts it; the agent reports rolled_back /
 * BOOT_FALLBACK with the version really running, and the next boot stays on A
 * (helpers/bad-update.ts).
 */
import { before, describe, it } from 'node:test';
import { badUpdate } from './helpers/bad-update.js';
import type { Layout } from './helpers/device.js';
import { setUp, skipReason } from './helpers/suite.js';

describe('arm64 e2e: bad update (health check fails on every boot)', { skip: skipReason }, () => {
  let layout: Layout;
  before(async () => {
    layout = await setUp();
  });

  it('falls back to slot A after three tries of B and stays there', async () => {
    await badUpdate(layout, 'update-unhealthy', 'v2-unhealthy', { staysBoot: true });
  });
});
