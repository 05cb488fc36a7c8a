/**
 * Bad update on the arm64 chain (the health check fails on every boot): U-Boot's boot.scr
 * tries B three times, then boots A and trusts it; the agent reports rolled_back /
 * BOOT_FALLBACK with the version really running, and the next boot stays on A
 * (test/e2e/helpers/bad-update.ts).
 */
import { badUpdate } from '../e2e/helpers/bad-update.js';
import { scenario } from '../e2e/helpers/scenario.js';
import { suite } from './helpers/suite.js';

scenario(
  suite,
  {
    title: 'arm64 e2e: bad update (health check fails on every boot)',
    test: 'falls back to slot A after three tries of B and stays there',
    device: 'update-unhealthy',
  },
  (dev) => badUpdate(suite, dev, 'v2-unhealthy', { staysBoot: true }),
);
