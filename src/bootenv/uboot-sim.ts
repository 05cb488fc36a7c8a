/**
 * A step-by-step TypeScript model of what boot/uboot/boot.cmd does at one boot, over the
 * environment fw_env.config names (read and saved with the codec, as U-Boot's `env
 * import -c` and `env export -c`/`saveenv` do). `kubesolo-update dev reboot` uses it on a
 * simulated device with `bootloader=uboot`; the state-table test runs it next to the
 * real script in U-Boot. It never runs on a real device.
 *
 * boot/uboot/boot.cmd and this file mirror each other: change both together. One
 * difference: in environment-file mode the script's `env export` keeps only the A/B
 * variables and kubesolo_console in the file, this model keeps every variable of it (the
 * file holds no others).
 */
import { writeFile } from 'node:fs/promises';
import {
  bootableSlot,
  type GrubBootAction,
  type GrubBootOptions,
  type GrubBootResult,
} from './grub-sim.js';
import { loadUbootEnv, updateUbootEnv, type UbootEnvAccess } from './uboot-env-file.js';
import type { Slot } from './types.js';

/** The same result as GRUB's model, with the same actions: boot, trial, trial-unrecorded, fallback. */
export type UbootBootResult = GrubBootResult;
export type UbootBootOptions = GrubBootOptions;

export async function simulateUbootBoot(
  access: UbootEnvAccess,
  options: UbootBootOptions = {},
): Promise<UbootBootResult> {
  const partitions = options.partitions ?? ['A', 'B'];
  // env import -c (or U-Boot's own load): a bad CRC or no file leaves no variables.
  let env = new Map<string, string>();
  let loaded = true;
  try {
    env = (await loadUbootEnv(access)).vars;
  } catch {
    loaded = false;
  }
  const get = (n: string) => env.get(n) ?? '';

  let slot: Slot = get('active_slot') === 'B' ? 'B' : 'A';
  let other: Slot = slot === 'A' ? 'B' : 'A';
  const counter = get('boot_counter') || '3';
  const trial = !(get('boot_success') === '' || get('boot_success') === '1');

  let action: GrubBootAction = 'boot';
  const set = new Map<string, string>();
  if (trial) {
    const next = { '3': '2', '2': '1', '1': '0' }[counter];
    if (next !== undefined) {
      set.set('boot_counter', next);
      action = 'trial';
    } else {
      set.set('active_slot', other);
      set.set('boot_success', '1');
      set.set('boot_counter', '3');
      action = 'fallback';
      [slot, other] = [other, slot];
    }
  }
  let envSaved: boolean | undefined;
  if (action !== 'boot') {
    try {
      await updateUbootEnv(access, (vars) => {
        for (const [k, v] of set) vars.set(k, v);
        return vars;
      });
      envSaved = true;
    } catch {
      envSaved = false;
    }
    if (action === 'trial' && !envSaved) {
      action = 'trial-unrecorded';
      [slot, other] = [other, slot];
    }
  }

  // The chosen slot's partition or files missing: boot.cmd boots the other slot.
  const booted = bootableSlot(slot, other, partitions);
  if (booted === undefined) {
    throw new Error(`uboot-sim: neither KSOLO${slot} nor KSOLO${other} boots; nothing boots`);
  }
  const console = get('kubesolo_console');
  return {
    bootedSlot: booted.bootedSlot,
    cmdline: `kubesolo.slot=${booted.bootedSlot} panic=10${console ? ` ${console}` : ''}`,
    action,
    envLoaded: loaded,
    envSaved,
    menuFallback: booted.menuFallback,
  };
}

/** Boot through boot.cmd and write the kernel command line the booted OS would see. */
export async function simulateUbootReboot(
  access: UbootEnvAccess,
  cmdlinePath: string,
  options: UbootBootOptions = {},
): Promise<UbootBootResult> {
  const result = await simulateUbootBoot(access, options);
  await writeFile(cmdlinePath, result.cmdline + '\n');
  return result;
}
