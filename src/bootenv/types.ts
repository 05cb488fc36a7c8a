/**
 * The A/B boot environment as the agent sees it (docs/design.md §2, §3.6). Implemented over
 * the GRUB environment block plus the running kernel's command line.
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

export interface BootEnv {
  read(): Promise<BootState>;
  /** Try `slot` on the next boot: active_slot=slot, boot_counter=3, boot_success=0 (one atomic write). */
  activate(slot: Slot): Promise<void>;
  /** Commit the active slot: boot_success=1, boot_counter=3. */
  markGood(): Promise<void>;
  /** Boot the other slot next, trusted: active_slot=other, boot_counter=3, boot_success=1. */
  forceRollback(): Promise<void>;
}
