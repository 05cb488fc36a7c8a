/**
 * `BootEnv` over the U-Boot environment (`bootloader=uboot`, docs/boot.md "U-Boot"). The
 * A/B variables and their meaning are GRUB's (boot-vars.ts): one specification, read by
 * boot/uboot/boot.cmd as boot/grub.cfg reads it. Where the environment lives is
 * fw_env.config's business (uboot-env-file.ts); every change is one write of one copy.
 *
 * Unlike a missing grubenv, a missing or damaged environment is an error
 * (UBOOTENV_READ_FAILED, UBOOTENV_CORRUPT): U-Boot then runs its built-in default
 * environment, the agent cannot know what else that environment holds, and it never
 * writes a new one from nothing.
 */
import type { Logger } from '../log.js';
import { bootStateOf, bootVarsWrites, interpretBootVars, type BootVars } from './boot-vars.js';
import { parseRunningSlot, readCmdline } from './cmdline.js';
import { ubootImportedValue } from './uboot-env.js';
import { loadUbootEnv, updateUbootEnv, type UbootEnvAccess } from './uboot-env-file.js';
import type { BootEnv, BootState } from './types.js';

export interface UbootBootEnvOptions extends UbootEnvAccess {
  /** The kernel command line file (default /proc/cmdline), resolved under --root. */
  cmdlinePath: string;
  log: Logger;
}

/** The variables as U-Boot's import hands them to the boot script (`\x` → `x`). */
function asUbootSeesThem(vars: ReadonlyMap<string, string>): Map<string, string> {
  return new Map([...vars].map(([k, v]) => [k, ubootImportedValue(v)]));
}

export function createUbootBootEnv(options: UbootBootEnvOptions): BootEnv {
  const log = options.log;
  const where = { path: options.configPath };

  function interpret(vars: ReadonlyMap<string, string>): BootVars {
    const bv = interpretBootVars(asUbootSeesThem(vars), 'U-Boot');
    for (const problem of bv.problems) log.warn(problem, where);
    return bv;
  }

  return {
    bootloader: 'uboot',
    store: options.configPath,

    async read(): Promise<BootState> {
      const env = await loadUbootEnv(options);
      const bv = interpret(env.vars);
      const cmdline = await readCmdline(options.cmdlinePath);
      const runningSlot = cmdline === undefined ? undefined : parseRunningSlot(cmdline);
      return bootStateOf(bv, runningSlot);
    },

    ...bootVarsWrites((edit) => updateUbootEnv(options, edit), interpret, log, where),
  };
}
