/**
 * Shared set-up of every e2e file: decide whether the suite can run here (loudly), build
 * the image once, and give each scenario its own device.
 */
import assert from 'node:assert/strict';
import { cannotRun, ensureBuilt, type Layout } from './image.js';
import { ensureKeys } from './release.js';
import type { BootResult } from './qemu.js';

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

/** The console mark `prefix ...` of a boot, or a failure naming the boot's log. */
export function mark(r: BootResult, prefix: string): string {
  const m = r.marks.find((x) => x.startsWith(prefix));
  assert.ok(
    m !== undefined,
    `no "${prefix}" line on the console; marks: ${JSON.stringify(r.marks)}`,
  );
  return m;
}

/** `key=value` pairs of a mark line. */
export function fields(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/(\S+?)=(\S*)/g)) out[m[1] as string] = m[2] as string;
  return out;
}

/** A boot that ended by the guest powering off, within its time bound. */
export function assertCleanPoweroff(r: BootResult): void {
  assert.equal(r.timedOut, false, 'the boot hit its time bound');
  assert.ok(
    r.marks.some((m) => m.startsWith('poweroff')),
    'the guest never powered off',
  );
  assert.equal(r.exitCode, 0);
}

/** The kernel command line GRUB passed, as the test OS printed it. */
export function cmdline(r: BootResult): string {
  const line = r.lines.find((l) => l.includes('Command line: '));
  assert.ok(line !== undefined, 'no kernel command line on the console');
  return line.slice(line.indexOf('Command line: ') + 'Command line: '.length);
}

/** The commit-deadline watchdog's console lines (os/init.d/20-kubesolo-update-watchdog.sh). */
export function watchdogLines(r: BootResult): string[] {
  return r.lines
    .filter((l) => l.startsWith('kubesolo-update-watchdog: '))
    .map((l) => l.slice('kubesolo-update-watchdog: '.length));
}
