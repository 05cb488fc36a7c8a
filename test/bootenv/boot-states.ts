/** Boot states and bootloader environments the BootEnv tests of every bootloader share. */
import type { BootState } from '../../src/bootenv/types.js';

/** A device as it leaves the factory, running slot A: A active and committed, counter full. */
export const FACTORY_ON_A: Readonly<BootState> = Object.freeze({
  activeSlot: 'A',
  passiveSlot: 'B',
  runningSlot: 'A',
  bootCounter: 3,
  bootSuccess: true,
});

/** A bootloader environment's variables, in the order written. */
export function envOf(vars: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(vars));
}

/** The A/B variables (docs/boot.md) as a bootloader environment holds them, then `extra`. */
export function abEnv(
  active_slot: string,
  boot_counter: string,
  boot_success: string,
  extra: Record<string, string> = {},
): Map<string, string> {
  return envOf({ active_slot, boot_counter, boot_success, ...extra });
}
