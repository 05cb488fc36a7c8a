/**
 * Reading a boot's console: the `KSOLO-E2E: ` marks, the kernel command line, the
 * watchdog's lines. Shared by the amd64 (test/e2e) and arm64 (test/e2e-arm64) suites.
 */
import assert from 'node:assert/strict';
import type { BootResult } from './qemu.js';

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
  // x86 prints "Command line: ...", arm64 "Kernel command line: ...".
  const at = /[Cc]ommand line: /;
  const line = r.lines.find((l) => at.test(l));
  assert.ok(line !== undefined, 'no kernel command line on the console');
  const m = at.exec(line)!;
  return line.slice(m.index + m[0].length);
}

/** The commit-deadline watchdog's console lines (os/init.d/20-kubesolo-update-watchdog.sh). */
export function watchdogLines(r: BootResult): string[] {
  return r.lines
    .filter((l) => l.startsWith('kubesolo-update-watchdog: '))
    .map((l) => l.slice('kubesolo-update-watchdog: '.length));
}
