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
import type { Logger } from '../log.js';
import { otherSlot, type BootEnv, type BootState, type Slot } from './types.js';

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
function withBootVars(
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

/** A bootloader's state as the agent reports it: its A/B variables and the running slot. */
export function bootStateOf(bv: BootVars, runningSlot: Slot | undefined): BootState {
  return {
    activeSlot: bv.activeSlot,
    passiveSlot: otherSlot(bv.activeSlot),
    runningSlot,
    bootCounter: bv.bootCounter,
    bootSuccess: bv.bootSuccess,
  };
}

/**
 * `activate`, `markGood` and `forceRollback` over the A/B variables, the same whichever
 * bootloader keeps them (grub-bootenv.ts, uboot-bootenv.ts). `update` makes one write of
 * the whole environment, edited by the function it is given; `interpret` reads the
 * variables as the bootloader does; `where` (the store's path) goes into the log lines.
 */
export function bootVarsWrites(
  update: (edit: (vars: Map<string, string>) => Map<string, string>) => Promise<unknown>,
  interpret: (vars: ReadonlyMap<string, string>) => BootVars,
  log: Logger,
  where: { path: string },
): Pick<BootEnv, 'activate' | 'markGood' | 'forceRollback'> {
  /** One write: the three A/B variables `next` computes from the current ones, placed first. */
  async function change(next: (current: BootVars) => Parameters<typeof withBootVars>[1]) {
    await update((vars) => withBootVars(vars, next(interpret(vars))));
  }

  return {
    async activate(slot: Slot): Promise<void> {
      await change(() => ({ activeSlot: slot, bootCounter: BOOT_TRIES, bootSuccess: false }));
      log.info('boot environment: trying slot on next boot', { slot, ...where });
    },

    async markGood(): Promise<void> {
      await change((cur) => ({
        activeSlot: cur.activeSlot,
        bootCounter: BOOT_TRIES,
        bootSuccess: true,
      }));
      log.info('boot environment: active slot committed', where);
    },

    async forceRollback(): Promise<void> {
      let target: Slot | undefined;
      await change((cur) => {
        target = otherSlot(cur.activeSlot);
        return { activeSlot: target, bootCounter: BOOT_TRIES, bootSuccess: true };
      });
      log.info('boot environment: rolled back to the other slot', { slot: target, ...where });
    },
  };
}
