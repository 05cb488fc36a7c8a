/**
 * Default on-device paths (docs/design.md §3.1). Every path is resolved under `--root`, the
 * way `rpm --root` works, so commands are testable and usable by image builders.
 */
import { isAbsolute, join, resolve } from 'node:path';

export const DEFAULT_PATHS = {
  config: '/etc/kubesolo/update.conf',
  state: '/var/lib/kubesolo/update/state.json',
  grubenv: '/boot/grub/grubenv',
  /** Where the U-Boot environment is (fw_env.config; docs/boot.md), beside update.conf. */
  ubootEnvConfig: '/etc/kubesolo/fw_env.config',
  /** The Raspberry Pi firmware's autoboot.txt: partition 1, where Raspberry Pi OS mounts it. */
  autobootTxt: '/boot/firmware/autoboot.txt',
  /** The firmware's tryboot flag in the device tree (1 on a tryboot boot). */
  trybootFlag: '/proc/device-tree/chosen/bootloader/tryboot',
  cmdline: '/proc/cmdline',
  kubeconfig: '/var/lib/kubesolo/pki/admin/admin.kubeconfig',
  dataDir: '/var/lib/kubesolo',
  pubkey: '/etc/kubesolo/update.pub',
  /** machine-id(5): where the rollout device identifier is derived from (src/fleet/device-id.ts). */
  machineId: '/etc/machine-id',
  /** The OS image's board name (src/config/board.ts). */
  boardIdentity: '/usr/lib/kubesolo/compatible',
} as const;

/**
 * Resolve `path` under `root`. Absolute paths are re-rooted (`/etc/x` under `/tmp/r`
 * is `/tmp/r/etc/x`); relative paths are taken relative to the current directory,
 * as a user typing them on a command line would expect.
 */
export function underRoot(root: string, path: string): string {
  if (!isAbsolute(path)) return resolve(path);
  if (root === '/' || root === '') return path;
  return join(resolve(root), path);
}

/** The device's update.conf: `--conf` (default /etc/kubesolo/update.conf) under `--root`. */
export function configPathUnder(root: string, conf: string | undefined): string {
  return underRoot(root, conf ?? DEFAULT_PATHS.config);
}
