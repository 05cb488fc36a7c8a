/**
 * Shared set-up of every e2e file: decide whether the suite can run here (loudly), build
 * the image once, and give each scenario its own device.
 */
import { cannotRun, ensureBuilt, type Layout } from './image.js';
import { ensureKeys } from './release.js';

const why = await cannotRun();
if (why.skip) console.log(`\n*** e2e SKIPPED: ${why.skip} ***\n`);
if (why.fail) console.log(`\n*** e2e CANNOT RUN: ${why.fail} ***\n`);

/** The agent's slot store in the test OS (boot/build-test-image --slot-backend). */
export const SLOT_BACKEND = 'dir';

/** `describe` option: skip (with the reason printed above) when not root. */
export const skipReason: string | undefined = why.skip;

/**
 * Build (or reuse) the image, with the run's release key baked in; missing tools fail
 * the suite rather than skip it.
 */
export async function setUp(): Promise<Layout> {
  if (why.fail) throw new Error(`e2e cannot run: ${why.fail}`);
  const pubkey = await ensureKeys();
  // KSOLO_E2E_GRUB_CFG: try another GRUB script without editing boot/grub.cfg.
  const grubCfg = process.env.KSOLO_E2E_GRUB_CFG;
  const slotBackend = process.env.KSOLO_E2E_SLOT_BACKEND ?? SLOT_BACKEND;
  return ensureBuilt({ pubkey, slotBackend, ...(grubCfg === undefined ? {} : { grubCfg }) });
}

export { assertCleanPoweroff, cmdline, fields, mark, watchdogLines } from './marks.js';
