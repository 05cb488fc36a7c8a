/**
 * A simulated KubeSolo OS device under a directory, for trying the agent by hand
 * (`kubesolo-update dev init-root DIR`, docs/quickstart-by-hand.md) and for the demo:
 * what the agent sees through `--root`, with `dir` slots instead of partitions.
 *
 *   DIR/slots/A, DIR/slots/B            vmlinuz, kubesolo-os.gz, version
 *   DIR/boot/grub/grubenv               GRUB (default): a real GRUB environment block
 *   DIR/boot/kubesolo.env               U-Boot: a real U-Boot environment (16 KiB), where
 *   DIR/etc/kubesolo/fw_env.config        fw_env.config says
 *   DIR/boot/firmware/autoboot.txt      Raspberry Pi tryboot: the firmware's file
 *   DIR/proc/cmdline                    `kubesolo.slot=A ...`, as the bootloader passes it
 *   DIR/proc/sys/kernel/random/boot_id  a new id at every simulated boot
 *   DIR/etc/kubesolo/update.conf        dir slots, disk-only health checks, the bootloader
 *   DIR/var/lib/kubesolo/               the data directory (disk_writable writes here)
 *
 * A "reboot" (rebootDevice) runs the bootloader's rules over its environment (GRUB:
 * grub-sim.ts; U-Boot: uboot-sim.ts; the Pi firmware: tryboot-sim.ts) and writes the
 * command line and boot id the booted OS would see.
 */
import { silentLogger } from '../log.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { serializeAutoboot } from '../bootenv/autoboot-txt.js';
import { simulateReboot, type GrubBootResult } from '../bootenv/grub-sim.js';
import { readGrubEnvFile, writeGrubEnvFile } from '../bootenv/grubenv.js';
import {
  createTrybootBootEnv,
  SLOT_PARTITIONS,
  TRYBOOT_REBOOT_ARGUMENT,
} from '../bootenv/tryboot-bootenv.js';
import { simulateTrybootReboot, type TrybootPaths } from '../bootenv/tryboot-sim.js';
import type { Bootloader, Slot } from '../bootenv/types.js';
import { serializeUbootEnv, sortedVars } from '../bootenv/uboot-env.js';
import { loadUbootEnv, type UbootEnvAccess } from '../bootenv/uboot-env-file.js';
import { simulateUbootReboot } from '../bootenv/uboot-sim.js';
import { parseVersion } from '../config/version.js';
import { ARTIFACT_NAMES, imageFile, perImage, type ArtifactName } from '../metadata/images.js';
import { VERSION_FILE } from '../slots/types.js';
import { writeConfigFile } from '../config/file.js';
import type { UpdateConfig } from '../config/types.js';
import { errnoCode, UsageError } from '../errors.js';
import { DEFAULT_PATHS, underRoot } from '../paths.js';

export const DEVICE_PATHS = {
  grubenv: DEFAULT_PATHS.grubenv,
  ubootEnvConfig: DEFAULT_PATHS.ubootEnvConfig,
  ubootEnv: '/boot/kubesolo.env',
  autobootTxt: DEFAULT_PATHS.autobootTxt,
  trybootFlag: DEFAULT_PATHS.trybootFlag,
  cmdline: DEFAULT_PATHS.cmdline,
  bootId: '/proc/sys/kernel/random/boot_id',
  slotA: '/slots/A',
  slotB: '/slots/B',
  config: DEFAULT_PATHS.config,
  pubkey: DEFAULT_PATHS.pubkey,
  state: DEFAULT_PATHS.state,
} as const;

export interface InitDeviceRootOptions {
  /** The version installed in slot A (booted and committed). */
  installedVersion: string;
  /** update.conf `server=`. */
  server?: string;
  channel?: string;
  /** The release public key (64 hex characters): written to update.pub, `pubkey=` set. */
  publicKeyHex?: string;
  /** Create the device in a directory that is not empty. */
  force?: boolean;
  /** The bootloader the device simulates (default grub). */
  bootloader?: Bootloader;
}

/** The U-Boot environment of a simulated device: one copy, 16 KiB. */
const UBOOT_ENV_SIZE = 0x4000;

export interface InitDeviceRootResult {
  root: string;
  installedVersion: string;
  config: UpdateConfig;
}

async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return true;
    throw err;
  }
}

/** Write an OS "build": each image of random bytes, under its file name (no real OS inside). */
export async function writeFakeImages(
  dir: string,
  kernelBytes: number,
  initramfsBytes: number,
): Promise<Record<ArtifactName, string>> {
  await mkdir(dir, { recursive: true });
  const sizes: Record<ArtifactName, number> = { vmlinuz: kernelBytes, initramfs: initramfsBytes };
  const files = perImage((name) => join(dir, imageFile(name)));
  for (const name of ARTIFACT_NAMES) await writeFile(files[name], randomBytes(sizes[name]));
  return files;
}

/** Create the device with `installedVersion` in slot A, booted and committed. */
export async function initDeviceRoot(
  root: string,
  options: InitDeviceRootOptions,
): Promise<InitDeviceRootResult> {
  parseVersion(options.installedVersion); // the agent refuses to update from anything else
  if (!options.force && !(await isEmptyDir(root))) {
    throw new UsageError(
      'DEVICE_ROOT_NOT_EMPTY',
      `${root} is not empty; choose a new directory, or pass --force to write a device into it`,
      { details: { root } },
    );
  }
  const at = (p: string) => underRoot(root, p);
  for (const d of [
    '/etc/kubesolo',
    DEFAULT_PATHS.dataDir,
    '/boot/grub',
    '/proc/sys/kernel/random',
  ]) {
    await mkdir(at(d), { recursive: true });
  }
  await writeFakeImages(at(DEVICE_PATHS.slotA), 64 * 1024, 256 * 1024);
  await writeFile(join(at(DEVICE_PATHS.slotA), VERSION_FILE), options.installedVersion + '\n');
  await mkdir(at(DEVICE_PATHS.slotB), { recursive: true });
  const bootloader = options.bootloader ?? 'grub';
  const committedA = new Map([
    ['active_slot', 'A'],
    ['boot_counter', '3'],
    ['boot_success', '1'],
  ]);
  if (bootloader === 'uboot') {
    // An environment file, as boot.scr's environment-file mode keeps it (docs/boot.md).
    await writeFile(
      at(DEVICE_PATHS.ubootEnv),
      serializeUbootEnv(sortedVars(committedA), { size: UBOOT_ENV_SIZE, redundant: false }),
    );
    await writeFile(
      at(DEVICE_PATHS.ubootEnvConfig),
      `${DEVICE_PATHS.ubootEnv} 0x0 0x${UBOOT_ENV_SIZE.toString(16)}\n`,
    );
  } else if (bootloader === 'rpi-tryboot') {
    await mkdir(dirname(at(DEVICE_PATHS.autobootTxt)), { recursive: true });
    await writeFile(
      at(DEVICE_PATHS.autobootTxt),
      serializeAutoboot({
        allPartition: SLOT_PARTITIONS.A,
        trybootPartition: SLOT_PARTITIONS.A,
        armedBootId: undefined,
      }),
    );
  } else {
    await writeGrubEnvFile(at(DEVICE_PATHS.grubenv), committedA);
  }
  await writeFile(at(DEVICE_PATHS.cmdline), 'kubesolo.slot=A panic=10 console=ttyS0\n');
  await writeFile(at(DEVICE_PATHS.bootId), randomUUID() + '\n');

  const config: UpdateConfig = {
    ...(options.server !== undefined ? { server: options.server } : {}),
    ...(options.channel !== undefined ? { channel: options.channel } : {}),
    // No Kubernetes on a simulated device: judge health by the disk alone.
    healthChecks: ['disk_writable'],
    healthcheckTimeout: 10,
    slotBackend: 'dir',
    slotADir: DEVICE_PATHS.slotA,
    slotBDir: DEVICE_PATHS.slotB,
    ...(bootloader === 'grub' ? {} : { bootloader }),
  };
  if (options.publicKeyHex !== undefined) {
    await writeFile(at(DEVICE_PATHS.pubkey), options.publicKeyHex.trim() + '\n');
    config.pubkey = DEVICE_PATHS.pubkey;
  }
  await writeConfigFile(at(DEVICE_PATHS.config), config);
  return { root, installedVersion: options.installedVersion, config };
}

/** One power cycle: GRUB's rules over the grubenv, the new command line and boot id. */
export async function rebootDeviceRoot(
  root: string,
  grubenvPath: string = DEVICE_PATHS.grubenv,
): Promise<GrubBootResult> {
  const result = simulateReboot(
    underRoot(root, grubenvPath),
    underRoot(root, DEVICE_PATHS.cmdline),
  );
  await writeFile(underRoot(root, DEVICE_PATHS.bootId), randomUUID() + '\n');
  return result;
}

/** active_slot, boot_counter and boot_success, for display. */
export async function grubVars(
  root: string,
  grubenvPath: string = DEVICE_PATHS.grubenv,
): Promise<string> {
  const vars = (await readGrubEnvFile(underRoot(root, grubenvPath))) ?? new Map<string, string>();
  return ['active_slot', 'boot_counter', 'boot_success']
    .map((k) => `${k}=${vars.get(k) ?? '(unset)'}`)
    .join(' ');
}

/** Where a simulated device's bootloader keeps its state (update.conf's keys). */
export interface DeviceBootloader {
  bootloader: Bootloader;
  grubenv: string;
  ubootEnvConfig: string;
  autobootTxt: string;
}

export interface DeviceBootResult {
  bootedSlot: Slot;
  action: string;
  cmdline: string;
}

function trybootPaths(root: string, b: DeviceBootloader): TrybootPaths {
  return {
    autobootPath: underRoot(root, b.autobootTxt),
    cmdlinePath: underRoot(root, DEVICE_PATHS.cmdline),
    bootIdPath: underRoot(root, DEVICE_PATHS.bootId),
    trybootFlagPath: underRoot(root, DEVICE_PATHS.trybootFlag),
  };
}

function ubootAccess(root: string, b: DeviceBootloader): UbootEnvAccess {
  return { configPath: underRoot(root, b.ubootEnvConfig), root };
}

/**
 * One power cycle of a simulated device through its bootloader's rules. The Pi firmware
 * tries the new slot only when the agent's reboot would carry "0 tryboot" (a trial armed
 * in this boot), as on a device where the agent reboots it.
 */
export async function rebootDevice(root: string, b: DeviceBootloader): Promise<DeviceBootResult> {
  if (b.bootloader === 'rpi-tryboot') {
    const paths = trybootPaths(root, b);
    const arg = await createTrybootBootEnv({ ...paths, log: silentLogger }).rebootArgument!();
    return simulateTrybootReboot(paths, arg === TRYBOOT_REBOOT_ARGUMENT);
  }
  if (b.bootloader === 'uboot') {
    const r = await simulateUbootReboot(
      ubootAccess(root, b),
      underRoot(root, DEVICE_PATHS.cmdline),
    );
    await writeFile(underRoot(root, DEVICE_PATHS.bootId), randomUUID() + '\n');
    return r;
  }
  return rebootDeviceRoot(root, b.grubenv);
}

/** The bootloader's state, for display: its variables, or autoboot.txt's partitions. */
export async function describeBootEnv(root: string, b: DeviceBootloader): Promise<string> {
  if (b.bootloader === 'rpi-tryboot') {
    const text = await readFile(underRoot(root, b.autobootTxt), 'latin1');
    const parts = [...text.matchAll(/^boot_partition=(\d+)$/gm)].map((m) => m[1]);
    return `[all] boot_partition=${parts[0] ?? '?'} [tryboot] boot_partition=${parts[1] ?? '?'}`;
  }
  if (b.bootloader === 'uboot') {
    const vars = await loadUbootEnv(ubootAccess(root, b)).then(
      (e) => e.vars,
      () => new Map<string, string>(),
    );
    return ['active_slot', 'boot_counter', 'boot_success']
      .map((k) => `${k}=${vars.get(k) ?? '(unset)'}`)
      .join(' ');
  }
  return grubVars(root, b.grubenv);
}
