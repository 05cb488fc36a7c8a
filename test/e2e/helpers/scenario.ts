/**
 * The frame of every QEMU scenario file of both suites (amd64: ./suite.ts, arm64:
 * test/e2e-arm64/helpers/suite.ts): whether the suite runs here (said loudly), the image
 * built once in `before`, and the scenario's own fresh device; and what the shared
 * scenario steps (factory-boot.ts, stage-update.ts, bad-update.ts) need to know of a suite.
 */
import { before, describe, it } from 'node:test';
import type { BootEnv, TestDevice } from './host.js';

/** One suite's scenarios: its image, its devices, its bootloader. */
export interface Suite<L, D extends TestDevice<L>> {
  /** `describe` option: skip (with the reason printed by gate()) when not root. */
  skipReason: string | undefined;
  /** Build (or reuse) the image; missing tools fail the suite rather than skip it. */
  setUp(): Promise<L>;
  device(name: string, layout: L): Promise<D>;
  /** Where releases of this suite's test OS are built (publish's `image`). */
  image: { buildDir: string; arch: 'amd64' | 'arm64' };
  /** Guest shell (after GUEST_LIB) that serves /ctl/release on 127.0.0.1:8080. */
  serveRelease: string;
  /**
   * What the bootloader prints of its A/B decisions (U-Boot's boot.scr), checked at
   * each boot of a bad update; undefined where it prints nothing (GRUB).
   */
  decisions?: {
    trial(left: string): string;
    fallback: string;
    bootA: string;
  };
}

/** Print whether the suite can run here; skip when not root, fail (in setUp) on a missing tool. */
export function gate(
  label: string,
  why: { skip?: string; fail?: string },
): { skipReason: string | undefined; assertCanRun(): void } {
  if (why.skip) console.log(`\n*** ${label} SKIPPED: ${why.skip} ***\n`);
  if (why.fail) console.log(`\n*** ${label} CANNOT RUN: ${why.fail} ***\n`);
  return {
    skipReason: why.skip,
    assertCanRun() {
      if (why.fail) throw new Error(`${label} cannot run: ${why.fail}`);
    },
  };
}

/** A scenario file's one test: `body` runs on a fresh device named `device`. */
export function scenario<L, D extends TestDevice<L>>(
  suite: Suite<L, D>,
  names: { title: string; test: string; device: string },
  body: (dev: D) => Promise<void>,
): void {
  describe(names.title, { skip: suite.skipReason }, () => {
    let layout: L;
    before(async () => {
      layout = await suite.setUp();
    });
    it(names.test, async () => body(await suite.device(names.device, layout)));
  });
}

/** The A/B variables of a committed slot: what GRUB, boot.scr and the agent leave alone. */
export const committed = (slot: 'A' | 'B'): BootEnv => ({
  active_slot: slot,
  boot_counter: '3',
  boot_success: '1',
});

/** The A/B variables of a slot on trial with `left` tries left (3: none taken yet). */
export const onTrial = (slot: 'A' | 'B', left = '3'): BootEnv => ({
  active_slot: slot,
  boot_counter: left,
  boot_success: '0',
});
