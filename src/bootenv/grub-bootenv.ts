/**
 * `BootEnv` over the GRUB environment block and the kernel command line
 * (docs/design.md §2, §3.1, §3.6). Paths arrive already resolved under `--root`.
 *
 * A missing grubenv file reads as the defaults (slot A, committed), which is also
 * what grub.cfg does when `load_env` finds no file; the first write creates it, in
 * a directory that must exist (see writeGrubEnvFile). Every change is one atomic
 * write of the whole block.
 */
import type { Logger } from '../log.js';
import { bootStateOf, bootVarsWrites, interpretBootVars, type BootVars } from './boot-vars.js';
import { parseRunningSlot, readCmdline } from './cmdline.js';
import { readGrubEnvFile, updateGrubEnvFile, type GrubEnvWriteOptions } from './grubenv.js';
import type { BootEnv, BootState } from './types.js';

export interface GrubBootEnvOptions {
  /** The grubenv file (default device path /boot/grub/grubenv), resolved under --root. */
  grubenvPath: string;
  /** The kernel command line file (default /proc/cmdline), resolved under --root. */
  cmdlinePath: string;
  log: Logger;
  /** Fault-injection hook for the atomic write (tests). */
  onWriteStep?: GrubEnvWriteOptions['onStep'];
}

export function createGrubBootEnv(options: GrubBootEnvOptions): BootEnv {
  const { grubenvPath, cmdlinePath } = options;
  const log = options.log;
  const writeOptions: GrubEnvWriteOptions = { onStep: options.onWriteStep };

  function interpret(vars: ReadonlyMap<string, string>): BootVars {
    const bv = interpretBootVars(vars);
    for (const problem of bv.problems) log.warn(problem, { path: grubenvPath });
    return bv;
  }

  return {
    bootloader: 'grub',
    store: grubenvPath,

    async read(): Promise<BootState> {
      const vars = await readGrubEnvFile(grubenvPath);
      if (vars === undefined) {
        log.debug('no GRUB environment file; using the defaults', { path: grubenvPath });
      }
      const bv = interpret(vars ?? new Map());
      const cmdline = await readCmdline(cmdlinePath);
      const runningSlot = cmdline === undefined ? undefined : parseRunningSlot(cmdline);
      if (cmdline !== undefined && runningSlot === undefined) {
        log.debug('no kubesolo.slot=A|B on the kernel command line', { path: cmdlinePath });
      }
      return bootStateOf(bv, runningSlot);
    },

    ...bootVarsWrites(
      (edit) => updateGrubEnvFile(grubenvPath, edit, writeOptions),
      interpret,
      log,
      { path: grubenvPath },
    ),
  };
}
