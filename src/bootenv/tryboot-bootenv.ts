/**
 * `BootEnv` over the Raspberry Pi firmware's tryboot (`bootloader=rpi-tryboot`,
 * docs/boot.md "Raspberry Pi tryboot"). Slot A is boot partition 2, slot B partition 3;
 * autoboot.txt on partition 1 says which one the firmware boots.
 *
 * Tryboot is one try with no counter: `activate` names the new slot in `[tryboot]` and
 * the next reboot must carry the one-shot flag (`reboot "0 tryboot"`, rebootArgument);
 * the firmware clears the flag as it boots, so any later reboot (a panic, the watchdog,
 * a power cut) starts `[all]`, the committed slot, again. `markGood` moves `[all]` to
 * the slot on trial. The agent tells "armed, not yet rebooted" from "tried already" by the
 * boot id it writes beside the trial, and a trial boot by running the pending slot (only a
 * tryboot boots it) or, where the command line names no slot, by the firmware's flag in
 * the device tree (/proc/device-tree/chosen/bootloader/tryboot).
 *
 * What the agent reports in the GRUB terms of BootState:
 *
 * | autoboot.txt, this boot | activeSlot | bootSuccess | bootCounter |
 * |---|---|---|---|
 * | `[tryboot]` = `[all]` (nothing pending) | `[all]` | true | 3 |
 * | trial armed in this boot, not yet rebooted | `[tryboot]` | false | 1 (the one try) |
 * | booted with the tryboot flag (the trial runs) | `[tryboot]` | false | 0 |
 * | trial armed in an earlier boot, no flag now | `[all]` | true | 3 (the try was used; the firmware booted the committed slot) |
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ioError, KubesoloError, OperationError } from '../errors.js';
import { decodeNamingPath, readControlFile } from '../fs/control-file.js';
import type { Logger } from '../log.js';
import { BOOT_TRIES } from './boot-vars.js';
import { AUTOBOOT_SIZE, parseAutoboot, serializeAutoboot, type Autoboot } from './autoboot-txt.js';
import { parseRunningSlot, readCmdline } from './cmdline.js';
import { otherSlot, type BootEnv, type BootState, type Slot } from './types.js';

/** Boot partitions of the slots (docs/boot.md "Raspberry Pi layout"). */
export const SLOT_PARTITIONS: Record<Slot, number> = { A: 2, B: 3 };
/** The reboot argument that makes the firmware boot `[tryboot]` once. */
export const TRYBOOT_REBOOT_ARGUMENT = '0 tryboot';

export interface TrybootBootEnvOptions {
  /** autoboot.txt on the first FAT partition (resolved under --root). */
  autobootPath: string;
  cmdlinePath: string;
  /** /proc/sys/kernel/random/boot_id (resolved under --root). */
  bootIdPath: string;
  /** /proc/device-tree/chosen/bootloader/tryboot (resolved under --root). */
  trybootFlagPath: string;
  log: Logger;
}

function slotOf(partition: number): Slot {
  if (partition === SLOT_PARTITIONS.A) return 'A';
  if (partition === SLOT_PARTITIONS.B) return 'B';
  throw new OperationError(
    'AUTOBOOT_INVALID',
    `autoboot.txt: boot_partition=${partition} is neither slot A (${SLOT_PARTITIONS.A}) nor slot B (${SLOT_PARTITIONS.B})`,
    { details: { reason: 'value' } },
  );
}

async function readAutoboot(path: string): Promise<Autoboot> {
  let bytes: Buffer;
  try {
    bytes = await readControlFile(path, { maxBytes: 64 * 1024 });
  } catch (err) {
    throw ioError('AUTOBOOT_READ_FAILED', `cannot read ${path}`, err, { path });
  }
  return decodeNamingPath(path, bytes, parseAutoboot);
}
/** The firmware's tryboot flag: a big-endian u32 property, 1 when this boot was a tryboot. */
async function trybootBoot(flagPath: string): Promise<boolean> {
  try {
    const b = await readControlFile(flagPath, { maxBytes: 64 });
    return b.length === 4 && b.readUInt32BE(0) === 1;
  } catch {
    return false;
  }
}
async function readBootId(bootIdPath: string): Promise<string | undefined> {
  try {
    return (
      (await readControlFile(bootIdPath, { maxBytes: 4096 })).toString('latin1').trim() || undefined
    );
  } catch {
    return undefined;
  }
}
/** In place, 512 bytes, into a file that already has them; fsync; read back. */
async function writeAutoboot(path: string, a: Autoboot): Promise<void> {
  const bytes = serializeAutoboot(a);
  let handle;
  try {
    handle = await open(path, constants.O_RDWR | constants.O_NONBLOCK);
  } catch (err) {
    throw ioError('AUTOBOOT_WRITE_FAILED', `cannot write ${path}`, err, { path });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size !== AUTOBOOT_SIZE) {
      // A different size would change the FAT directory entry; a rename the FAT table.
      throw new OperationError(
        'AUTOBOOT_INVALID',
        `autoboot.txt: ${path} is not a ${AUTOBOOT_SIZE}-byte file; the agent rewrites it only in place (write the factory file at that size, docs/boot.md)`,
        { details: { reason: 'size', path } },
      );
    }
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.sync();
    const back = Buffer.alloc(bytes.length);
    await handle.read(back, 0, back.length, 0);
    if (!back.equals(bytes)) {
      throw new OperationError('AUTOBOOT_WRITE_FAILED', `${path} reads back differently`, {
        details: { path },
      });
    }
  } catch (err) {
    if (err instanceof KubesoloError) throw err;
    throw ioError('AUTOBOOT_WRITE_FAILED', `cannot write ${path}`, err, { path });
  } finally {
    await handle.close();
  }
}
export function createTrybootBootEnv(options: TrybootBootEnvOptions): BootEnv {
  const log = options.log;
  const path = options.autobootPath;

  /** The state in GRUB's terms (see the table above), and whether a tryboot reboot is due. */
  async function runningSlot(): Promise<Slot | undefined> {
    const cmdline = await readCmdline(options.cmdlinePath);
    return cmdline === undefined ? undefined : parseRunningSlot(cmdline);
  }

  async function state(
    a: Autoboot,
  ): Promise<{ active: Slot; success: boolean; counter: number; armed: boolean }> {
    const committed = slotOf(a.allPartition);
    const pending = a.trybootPartition === undefined ? committed : slotOf(a.trybootPartition);
    if (pending === committed)
      return { active: committed, success: true, counter: BOOT_TRIES, armed: false };
    // Only a tryboot boots the pending slot, so running it is being on trial; the device
    // tree's flag says the same where the command line names no slot (and a pod that
    // does not mount /proc/device-tree still sees its command line).
    const running = await runningSlot();
    const onTrial =
      running === undefined ? await trybootBoot(options.trybootFlagPath) : running === pending;
    if (onTrial) return { active: pending, success: false, counter: 0, armed: false };
    const id = await readBootId(options.bootIdPath);
    if (a.armedBootId !== undefined && a.armedBootId === id) {
      return { active: pending, success: false, counter: 1, armed: true };
    }
    log.warn(
      `the trial of slot ${pending} was armed in an earlier boot and this boot is no tryboot: the firmware booted the committed slot ${committed}`,
      { path },
    );
    return { active: committed, success: true, counter: BOOT_TRIES, armed: false };
  }

  const both = (slot: Slot): Autoboot => ({
    allPartition: SLOT_PARTITIONS[slot],
    trybootPartition: SLOT_PARTITIONS[slot],
    armedBootId: undefined,
  });

  return {
    bootloader: 'rpi-tryboot',
    store: path,

    async read(): Promise<BootState> {
      const s = await state(await readAutoboot(path));
      return {
        activeSlot: s.active,
        passiveSlot: otherSlot(s.active),
        runningSlot: await runningSlot(),
        bootCounter: s.counter,
        bootSuccess: s.success,
      };
    },

    async activate(slot: Slot): Promise<void> {
      const a = await readAutoboot(path);
      const id = await readBootId(options.bootIdPath);
      if (id === undefined) {
        throw new OperationError(
          'AUTOBOOT_WRITE_FAILED',
          `cannot arm a tryboot without the boot id (${options.bootIdPath})`,
          { details: { path: options.bootIdPath } },
        );
      }
      await writeAutoboot(path, {
        allPartition: a.allPartition,
        trybootPartition: SLOT_PARTITIONS[slot],
        armedBootId: id,
      });
      log.info(
        `boot environment: slot ${slot} armed for one tryboot; reboot with "${TRYBOOT_REBOOT_ARGUMENT}"`,
        { slot, path },
      );
    },

    async markGood(): Promise<void> {
      const s = await state(await readAutoboot(path));
      await writeAutoboot(path, both(s.active));
      log.info('boot environment: active slot committed', { slot: s.active, path });
    },

    async forceRollback(): Promise<void> {
      const s = await state(await readAutoboot(path));
      const target = otherSlot(s.active);
      await writeAutoboot(path, both(target));
      log.info('boot environment: rolled back to the other slot', { slot: target, path });
    },

    async rebootArgument(): Promise<string | undefined> {
      return (await state(await readAutoboot(path))).armed ? TRYBOOT_REBOOT_ARGUMENT : undefined;
    },
  };
}
