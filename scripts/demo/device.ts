/**
 * A simulated KubeSolo OS device under a directory, for the demo: what the agent sees
 * through `--root` (DESIGN §3.1) with `dir` slots instead of partitions.
 *
 *   DIR/slots/A, DIR/slots/B          vmlinuz, kubesolo-os.gz, version
 *   DIR/boot/grub/grubenv             written by the project's grubenv codec
 *   DIR/proc/cmdline                  `kubesolo.slot=A ...`, as GRUB passes it
 *   DIR/proc/sys/kernel/random/boot_id  a new id at every simulated boot
 *   DIR/etc/kubesolo/, DIR/var/lib/kubesolo/
 *
 * A "reboot" runs GRUB's rules of boot/grub.cfg over the grubenv (the bootenv
 * helper's simulator) and writes the command line the booted kernel would see.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readGrubEnvFile, writeGrubEnvFile } from '../../src/bootenv/grubenv.js';
import { simulateReboot, type GrubBootResult } from '../../test/helpers/grub-sim.js';

export const DEVICE_PATHS = {
  grubenv: '/boot/grub/grubenv',
  cmdline: '/proc/cmdline',
  bootId: '/proc/sys/kernel/random/boot_id',
  slotA: '/slots/A',
  slotB: '/slots/B',
  config: '/etc/kubesolo/update.conf',
  state: '/var/lib/kubesolo/update/state.json',
} as const;

export const at = (root: string, devicePath: string): string => join(root, devicePath);

/** Write an OS "build": a kernel and an initramfs of random bytes (no real OS inside). */
export async function buildImages(
  dir: string,
  kernelBytes: number,
  initramfsBytes: number,
): Promise<{ kernel: string; initramfs: string }> {
  await mkdir(dir, { recursive: true });
  const kernel = join(dir, 'vmlinuz');
  const initramfs = join(dir, 'kubesolo-os.gz');
  await writeFile(kernel, randomBytes(kernelBytes));
  await writeFile(initramfs, randomBytes(initramfsBytes));
  return { kernel, initramfs };
}

/** Create the device with `version` installed in slot A, booted and committed. */
export async function createDevice(root: string, version: string): Promise<void> {
  for (const d of ['/etc/kubesolo', '/var/lib/kubesolo', '/boot/grub', '/proc/sys/kernel/random']) {
    await mkdir(at(root, d), { recursive: true });
  }
  const slotA = at(root, DEVICE_PATHS.slotA);
  await buildImages(slotA, 64 * 1024, 256 * 1024);
  await writeFile(join(slotA, 'version'), version + '\n');
  await mkdir(at(root, DEVICE_PATHS.slotB), { recursive: true });
  await writeGrubEnvFile(
    at(root, DEVICE_PATHS.grubenv),
    new Map([
      ['active_slot', 'A'],
      ['boot_counter', '3'],
      ['boot_success', '1'],
    ]),
  );
  await writeFile(at(root, DEVICE_PATHS.cmdline), 'kubesolo.slot=A panic=10 console=ttyS0\n');
  await writeFile(at(root, DEVICE_PATHS.bootId), randomUUID() + '\n');
}

/** One power cycle: GRUB's rules over the grubenv, the new command line and boot id. */
export async function reboot(root: string): Promise<GrubBootResult> {
  const result = simulateReboot(at(root, DEVICE_PATHS.grubenv), at(root, DEVICE_PATHS.cmdline));
  await writeFile(at(root, DEVICE_PATHS.bootId), randomUUID() + '\n');
  return result;
}

/** The GRUB variables, for display. */
export async function grubVars(root: string): Promise<string> {
  const vars = (await readGrubEnvFile(at(root, DEVICE_PATHS.grubenv))) ?? new Map<string, string>();
  return ['active_slot', 'boot_counter', 'boot_success']
    .map((k) => `${k}=${vars.get(k) ?? '(unset)'}`)
    .join(' ');
}

export async function slotVersion(root: string, slot: 'A' | 'B'): Promise<string | undefined> {
  const dir = slot === 'A' ? DEVICE_PATHS.slotA : DEVICE_PATHS.slotB;
  const text = await readFile(join(at(root, dir), 'version'), 'utf8').catch(() => undefined);
  return text?.trim();
}
