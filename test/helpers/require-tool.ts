/**
 * Skip guards that cannot hide a regression in CI. CI runs the suite as root on a
 * machine where .ci/run installed every tool (APT_PACKAGES), so under root a missing
 * tool is a failure: the test file throws and says what to install. Elsewhere (a
 * developer's non-root checkout) the test is skipped, and the skip message says why
 * and how to run it.
 */
import { spawnSync } from 'node:child_process';
import { it, type TestContext } from 'node:test';

export const isRoot = process.getuid?.() === 0;

function installed(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { stdio: 'ignore' }).status === 0;
}

/**
 * Why the tests needing `tools` cannot run, or false when they can. Throws under root
 * when one is missing. `packages` names what provides them (a .ci/run APT_PACKAGES entry).
 */
export function toolSkipReason(tools: readonly string[], packages: string): string | false {
  const missing = tools.filter((t) => !installed(t));
  if (missing.length === 0) return false;
  const why = `${missing.join(', ')} not installed (apt-get install ${packages}; listed in .ci/run APT_PACKAGES)`;
  if (isRoot) throw new Error(`running as root (as CI does) but ${why}: install it, do not skip`);
  const reason = `${why}; install it to run this test`;
  console.log(`# SKIP: ${reason}`);
  return reason;
}

/**
 * For tests that need root (mounts, loop devices): false under root; otherwise skips
 * `t` with the reason and how to run it, and returns true (the caller returns).
 */
export function requireRoot(t: TestContext, why: string): boolean {
  if (isRoot) return false;
  t.skip(`needs root: ${why}; run it as root (sudo npm run test:unit), as CI does`);
  return true;
}

/** The same for a whole describe(): a skip reason outside root, false under root. */
export function rootSkipReason(why: string): string | false {
  return isRoot ? false : `needs root: ${why}; run it as root (sudo npm run test:unit), as CI does`;
}

/**
 * A skip a reader sees: the reason printed, and one skipped test registered under it,
 * because node:test counts a skipped describe() as no test at all ("skipped 0"). Call it
 * where the describe is declared (module level); it returns the reason for `{ skip }`.
 */
export function loudSkip(reason: string | false): string | false {
  if (reason === false) return false;
  console.log(`# SKIP: ${reason}`);
  it(`skipped: ${reason}`, { skip: reason }, () => undefined);
  return reason;
}
