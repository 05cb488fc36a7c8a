/**
 * The demo's simulated device: the one `kubesolo-update dev init-root` creates
 * (src/dev/device-root.ts), driven here in-process. A "reboot" runs GRUB's rules of
 * boot/grub.cfg over the grubenv (src/bootenv/grub-sim.ts) and writes the command
 * line and boot id the booted kernel would see.
 */
import { join } from 'node:path';
import type { GrubBootResult } from '../../src/bootenv/grub-sim.js';
import {
  DEVICE_PATHS,
  grubVars,
  initDeviceRoot,
  rebootDeviceRoot,
  writeFakeImages,
} from '../../src/dev/device-root.js';

export { DEVICE_PATHS, grubVars };

export const at = (root: string, devicePath: string): string => join(root, devicePath);

/** Write an OS "build": a kernel and an initramfs of random bytes (no real OS inside). */
export const buildImages = writeFakeImages;

/** Create the device with `version` installed in slot A, booted and committed. */
export async function createDevice(root: string, version: string): Promise<void> {
  await initDeviceRoot(root, { installedVersion: version });
}

/** One power cycle: GRUB's rules over the grubenv, the new command line and boot id. */
export function reboot(root: string): Promise<GrubBootResult> {
  return rebootDeviceRoot(root);
}
