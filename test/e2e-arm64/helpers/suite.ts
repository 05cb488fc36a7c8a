/**
 * Shared set-up of every arm64 e2e file: decide whether the suite can run here (loudly),
 * build the image once.
 */
import { cannotRun, ensureBuilt, type Layout } from './device.js';

const why = await cannotRun();
if (why.skip) console.log(`\n*** arm64 e2e SKIPPED: ${why.skip} ***\n`);
if (why.fail) console.log(`\n*** arm64 e2e CANNOT RUN: ${why.fail} ***\n`);

/** `describe` option: skip (with the reason printed above) when not root. */
export const skipReason: string | undefined = why.skip;

/** Build (or reuse) the image; missing tools fail the suite rather than skip it. */
export async function setUp(): Promise<Layout> {
  if (why.fail) throw new Error(`arm64 e2e cannot run: ${why.fail}`);
  return ensureBuilt();
}
