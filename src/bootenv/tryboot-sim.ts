/**
 * A model of the Raspberry Pi firmware's A/B tryboot at one boot (docs/boot.md
 * "Raspberry Pi tryboot"), for simulated devices (`kubesolo-update dev reboot` with
 * `bootloader=rpi-tryboot`) and the backend's tests. It never runs on a real device, and
 * it is the only "Pi" the project runs: the firmware itself cannot be emulated here.
 *
 * A reboot with the one-shot tryboot flag boots `[tryboot]`'s partition and the flag
 * shows in the device tree; any other boot starts `[all]`'s. The firmware writes
 * nothing: the flag is gone after one boot.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseAutoboot } from './autoboot-txt.js';
import { SLOT_PARTITIONS } from './tryboot-bootenv.js';
import type { Slot } from './types.js';

export interface TrybootPaths {
  autobootPath: string;
  cmdlinePath: string;
  bootIdPath: string;
  trybootFlagPath: string;
}

export interface TrybootBootResult {
  bootedSlot: Slot;
  /** `trial`: a tryboot boot of [tryboot]; `boot`: an ordinary boot of [all]. */
  action: 'boot' | 'trial';
  cmdline: string;
}

/** One boot: `tryboot` says whether the reboot carried "0 tryboot". */
export async function simulateTrybootReboot(
  paths: TrybootPaths,
  tryboot: boolean,
): Promise<TrybootBootResult> {
  const a = parseAutoboot(await readFile(paths.autobootPath));
  const partition = tryboot ? (a.trybootPartition ?? a.allPartition) : a.allPartition;
  const bootedSlot: Slot = partition === SLOT_PARTITIONS.B ? 'B' : 'A';
  if (partition !== SLOT_PARTITIONS[bootedSlot]) {
    throw new Error(`tryboot-sim: boot partition ${partition} holds no slot`);
  }
  // Each slot's cmdline.txt names its slot, as grub.cfg and boot.scr pass it.
  const cmdline = `kubesolo.slot=${bootedSlot} panic=10 console=serial0,115200`;
  await writeFile(paths.cmdlinePath, cmdline + '\n');
  await mkdir(dirname(paths.trybootFlagPath), { recursive: true });
  const flag = Buffer.alloc(4);
  flag.writeUInt32BE(tryboot ? 1 : 0);
  await writeFile(paths.trybootFlagPath, flag);
  await writeFile(paths.bootIdPath, randomUUID() + '\n');
  return { bootedSlot, action: tryboot ? 'trial' : 'boot', cmdline };
}
