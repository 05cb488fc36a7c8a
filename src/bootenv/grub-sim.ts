/**
 * A step-by-step TypeScript model of what boot/grub.cfg does at one boot, operating
 * on a grubenv file with GRUB's own algorithms (ports in grubenv.ts). The lifecycle
 * tests, the demo and `kubesolo-update dev reboot` use it to "reboot" a --root: call
 * simulateGrubBoot(), then write `kubesolo.slot=<bootedSlot>` into the cmdline file
 * (simulateReboot does both). It never runs on a real device.
 *
 * boot/grub.cfg and this file mirror each other: change both together. Each step
 * below names the grub.cfg lines it models.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { grubEnvDelete, grubEnvSet, iterateGrubEnv } from './grubenv.js';
import type { Slot } from './types.js';

/** grub.cfg: `load_env ... active_slot boot_success boot_counter kubesolo_console`. */
export const LOAD_ENV_VARS = ['active_slot', 'boot_success', 'boot_counter', 'kubesolo_console'];
/** grub.cfg: the default of kubesolo_console. */
export const DEFAULT_CONSOLE = 'console=tty0 console=ttyS0,115200';

export type GrubBootAction =
  /** Committed slot (boot_success 1 or missing): booted without touching grubenv. */
  | 'boot'
  /** Slot on trial: boot_counter counted down and saved, then booted. */
  | 'trial'
  /** Slot on trial, but save_env failed: the other slot was booted, nothing saved. */
  | 'trial-unrecorded'
  /** Tries used up: active_slot switched to the other slot, marked good, saved. */
  | 'fallback';

/** One simulated boot: GRUB's here, U-Boot's (uboot-sim.ts) the same. */
export interface GrubBootResult {
  /**
   * The slot whose kernel boots: the chosen one, or the other when the chosen one cannot
   * boot (GRUB: its default entry, or entry 1).
   */
  bootedSlot: Slot;
  /** The kernel command line the bootloader passes. */
  cmdline: string;
  action: GrubBootAction;
  /**
   * Whether the environment was read (GRUB's load_env; false: missing or invalid file,
   * or for U-Boot a bad CRC, and the defaults used).
   */
  envLoaded: boolean;
  /** Whether the save (GRUB's save_env) ran and succeeded (undefined: it did not run). */
  envSaved: boolean | undefined;
  /**
   * The chosen slot's partition (for U-Boot: or its files) was missing, and the other
   * slot was booted (GRUB: its menu entry 1).
   */
  menuFallback: boolean;
}

export interface GrubBootOptions {
  /**
   * Slots whose partition the script finds (GRUB: `search --label KSOLO<slot>`; U-Boot:
   * the partition and its files) (default both).
   */
  partitions?: readonly Slot[];
}

/**
 * The slot that boots when only `partitions` can: the chosen `slot`, else the `other`
 * (a menu fallback); undefined when neither can. Both boot scripts fall back so.
 */
export function bootableSlot(
  slot: Slot,
  other: Slot,
  partitions: readonly Slot[],
): { bootedSlot: Slot; menuFallback: boolean } | undefined {
  if (partitions.includes(slot)) return { bootedSlot: slot, menuFallback: false };
  if (partitions.includes(other)) return { bootedSlot: other, menuFallback: true };
  return undefined;
}

/** load_env: whitelisted variables from the block, as GRUB's iterate yields them. */
function loadEnv(path: string): { vars: Map<string, string>; loaded: boolean } {
  const vars = new Map<string, string>();
  if (!existsSync(path)) return { vars, loaded: false };
  const it = iterateGrubEnv(readFileSync(path));
  if (it === undefined) return { vars, loaded: false };
  for (const { name, value } of it.vars) {
    const n = name.toString('utf8');
    if (LOAD_ENV_VARS.includes(n)) vars.set(n, value.toString('utf8'));
  }
  return { vars, loaded: true };
}

/** save_env: edit the existing block in place; fail without writing on any error. */
function saveEnv(path: string, env: Map<string, string>, names: string[]): boolean {
  if (!existsSync(path)) return false;
  const block = readFileSync(path);
  if (iterateGrubEnv(block) === undefined) return false;
  for (const name of names) {
    const value = env.get(name);
    if (value === undefined) grubEnvDelete(block, name);
    else if (!grubEnvSet(block, name, value)) return false;
  }
  writeFileSync(path, block); // in place, same size, as GRUB's blocklist write
  return true;
}

/** One boot through boot/grub.cfg. */
export function simulateGrubBoot(
  grubenvPath: string,
  options: GrubBootOptions = {},
): GrubBootResult {
  const partitions = options.partitions ?? ['A', 'B'];
  // load_env -f "${kubesolo_envfile}" <whitelist>
  const { vars: env, loaded } = loadEnv(grubenvPath);
  const get = (n: string) => env.get(n) ?? '';

  // if [ "${active_slot}" = "B" ] ... else A
  let slot: Slot = get('active_slot') === 'B' ? 'B' : 'A';
  let other: Slot = slot === 'A' ? 'B' : 'A';
  // if [ -z "${boot_counter}" ]; then set boot_counter=3
  if (get('boot_counter') === '') env.set('boot_counter', '3');
  // kubesolo_trial=0 when boot_success is empty or "1"
  const trial = !(get('boot_success') === '' || get('boot_success') === '1');

  let action: GrubBootAction = 'boot';
  let envSaved: boolean | undefined;
  if (trial) {
    const next = { '3': '2', '2': '1', '1': '0' }[get('boot_counter')];
    if (next !== undefined) {
      env.set('boot_counter', next);
      envSaved = saveEnv(grubenvPath, env, ['boot_counter']);
      if (envSaved) {
        action = 'trial';
      } else {
        action = 'trial-unrecorded';
        [slot, other] = [other, slot];
      }
    } else {
      action = 'fallback';
      env.set('active_slot', other);
      env.set('boot_success', '1');
      env.set('boot_counter', '3');
      envSaved = saveEnv(grubenvPath, env, ['active_slot', 'boot_success', 'boot_counter']);
      [slot, other] = [other, slot];
    }
  }
  const console = get('kubesolo_console') || DEFAULT_CONSOLE;

  // menuentry 0 boots $kubesolo_slot; `set fallback=1` boots $kubesolo_other when
  // the first entry cannot (its partition is not found).
  const booted = bootableSlot(slot, other, partitions);
  if (booted === undefined) {
    throw new Error(`grub-sim: neither KSOLO${slot} nor KSOLO${other} exists; nothing boots`);
  }
  return {
    bootedSlot: booted.bootedSlot,
    cmdline: `kubesolo.slot=${booted.bootedSlot} panic=10 ${console}`,
    action,
    envLoaded: loaded,
    envSaved,
    menuFallback: booted.menuFallback,
  };
}

/** Boot through grub.cfg and write the kernel command line the booted OS would see. */
export function simulateReboot(
  grubenvPath: string,
  cmdlinePath: string,
  options: GrubBootOptions = {},
): GrubBootResult {
  const result = simulateGrubBoot(grubenvPath, options);
  writeFileSync(cmdlinePath, result.cmdline + '\n');
  return result;
}
