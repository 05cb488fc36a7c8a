/**
 * The A/B boot environment as the agent sees it (docs/design.md §2, §3.6; docs/boot.md
 * "The boot-environment interface"). Implemented over the GRUB environment block
 * (grub-bootenv.ts), the U-Boot environment (uboot-bootenv.ts) or the Raspberry Pi
 * firmware's autoboot.txt (tryboot-bootenv.ts), plus the running kernel's command line.
 */
export type Slot = 'A' | 'B';
export const SLOTS: readonly Slot[] = ['A', 'B'];

export function otherSlot(slot: Slot): Slot {
  return slot === 'A' ? 'B' : 'A';
}

export function isSlot(value: unknown): value is Slot {
  return value === 'A' || value === 'B';
}

export interface BootState {
  /** GRUB's `active_slot`: the slot GRUB boots next. */
  activeSlot: Slot;
  /** The slot that is not active. */
  passiveSlot: Slot;
  /** The slot the running kernel was booted from (`kubesolo.slot=` on its command line), if known. */
  runningSlot: Slot | undefined;
  /** GRUB's `boot_counter` (3..0): tries left for an uncommitted slot. */
  bootCounter: number;
  /** GRUB's `boot_success`: whether the active slot has been committed. */
  bootSuccess: boolean;
}

/** The bootloaders the agent drives (update.conf `bootloader`). */
export const BOOTLOADERS = ['grub', 'uboot', 'rpi-tryboot'] as const;
export type Bootloader = (typeof BOOTLOADERS)[number];

/**
 * The whole contract between the lifecycle and a bootloader: four operations, each one
 * durable write (or none) of the bootloader's own store. Commands that commit or mark a
 * slot bad are built on these; nothing else in the agent touches a bootloader.
 */
export interface BootEnv {
  /** Which bootloader this drives. */
  readonly bootloader: Bootloader;
  /** The file the agent reads the environment from (grubenv, fw_env.config, autoboot.txt). */
  readonly store: string;
  /** What the bootloader will act on at the next boot, and the slot running now. */
  read(): Promise<BootState>;
  /** Try `slot` on the next boot: active_slot=slot, boot_counter=3, boot_success=0 (one atomic write). */
  activate(slot: Slot): Promise<void>;
  /** Commit the active slot: boot_success=1, boot_counter=3. */
  markGood(): Promise<void>;
  /** Boot the other slot next, trusted: active_slot=other, boot_counter=3, boot_success=1. */
  forceRollback(): Promise<void>;
  /**
   * The argument the next reboot must pass to reboot(2), if any: the Raspberry Pi
   * firmware tries a slot only when rebooted with "0 tryboot" (docs/boot.md). Absent or
   * undefined: an ordinary reboot.
   */
  rebootArgument?(): Promise<string | undefined>;
}
