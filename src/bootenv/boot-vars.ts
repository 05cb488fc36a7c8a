/**
 * The A/B variables in the GRUB environment (docs/design.md §3.6) and how boot/grub.cfg reads
 * them. grub.cfg and this file (and src/bootenv/grub-sim.ts) must agree: the agent
 * reports the state GRUB will act on, so a value GRUB treats as "A" is reported as A.
 *
 * | variable       | values | missing or empty | anything else          |
 * |----------------|--------|------------------|------------------------|
 * | `active_slot`  | A, B   | A                | A (grub.cfg: "B" or A) |
 * | `boot_success` | 0, 1   | 1 (committed)    | 0 (on trial: bounded)  |
 * | `boot_counter` | 3..0   | 3                | 0 (tries used up)      |
 */
import type { Slot } from './types.js';

const VAR_ACTIVE_SLOT = 'active_slot';
const VAR_BOOT_COUNTER = 'boot_counter';
const VAR_BOOT_SUCCESS = 'boot_success';

/** Boots a slot on trial gets before GRUB falls back (docs/design.md §2: boot_counter=3). */
export const BOOT_TRIES = 3;

export interface BootVars {
  activeSlot: Slot;
  bootCounter: number;
  bootSuccess: boolean;
  /** Values GRUB will read differently from what they say (reported as warnings). */
  problems: string[];
}

/**
 * What grub.cfg (and boot/uboot/boot.cmd, which follows the same rules) makes of the
 * variables (see the table above and docs/boot.md). `bootloader` names it in the problems.
 */
export function interpretBootVars(
  vars: ReadonlyMap<string, string>,
  bootloader = 'GRUB',
): BootVars {
  const problems: string[] = [];
  const active = vars.get(VAR_ACTIVE_SLOT) ?? '';
  const success = vars.get(VAR_BOOT_SUCCESS) ?? '';
  const counter = vars.get(VAR_BOOT_COUNTER) ?? '';
  if (!['', 'A', 'B'].includes(active)) {
    problems.push(
      `${VAR_ACTIVE_SLOT}=${JSON.stringify(active)} is not A or B; ${bootloader} boots A`,
    );
  }
  if (!['', '0', '1'].includes(success)) {
    problems.push(
      `${VAR_BOOT_SUCCESS}=${JSON.stringify(success)} is not 0 or 1; ${bootloader} treats the slot as on trial`,
    );
  }
  let bootCounter: number;
  if (counter === '') bootCounter = BOOT_TRIES;
  else if (/^[0-3]$/.test(counter)) bootCounter = Number(counter);
  else {
    bootCounter = 0;
    problems.push(
      `${VAR_BOOT_COUNTER}=${JSON.stringify(counter)} is not 0..3; ${bootloader} treats the tries as used up`,
    );
  }
  return {
    activeSlot: active === 'B' ? 'B' : 'A',
    bootSuccess: success === '' || success === '1',
    bootCounter,
    problems,
  };
}

/**
 * New variables with the three A/B variables set and placed first. First, because
 * GRUB's `save_env` rewrites the block in place sector by sector: with our variables
 * inside the first 512-byte sector, the count-down GRUB writes touches only that
 * sector, which a disk writes whole. Other variables keep their order.
 */
export function withBootVars(
  vars: ReadonlyMap<string, string>,
  set: { activeSlot: Slot; bootCounter: number; bootSuccess: boolean },
): Map<string, string> {
  const out = new Map<string, string>([
    [VAR_ACTIVE_SLOT, set.activeSlot],
    [VAR_BOOT_COUNTER, String(set.bootCounter)],
    [VAR_BOOT_SUCCESS, set.bootSuccess ? '1' : '0'],
  ]);
  for (const [k, v] of vars) if (!out.has(k)) out.set(k, v);
  return out;
}
