/** `status`: the boot side and the lifecycle in one report (DESIGN §3.5). */
import { SLOTS, type BootState, type Slot } from '../bootenv/types.js';
import type { SlotStore } from '../slots/types.js';
import { toFileShape, type UpdateState } from './state.js';

export interface StatusReport {
  active_slot: Slot;
  passive_slot: Slot;
  running_slot: Slot | null;
  boot_counter: number;
  boot_success: boolean;
  slots: Record<Slot, { version: string | null }>;
  state: Record<string, unknown>;
}

export async function buildStatus(
  boot: BootState,
  state: UpdateState,
  slots: SlotStore,
): Promise<StatusReport> {
  const versions = await Promise.all(SLOTS.map((s) => slots.readVersion(s).catch(() => undefined)));
  return {
    active_slot: boot.activeSlot,
    passive_slot: boot.passiveSlot,
    running_slot: boot.runningSlot ?? null,
    boot_counter: boot.bootCounter,
    boot_success: boot.bootSuccess,
    slots: { A: { version: versions[0] ?? null }, B: { version: versions[1] ?? null } },
    state: toFileShape(state),
  };
}

/** The human view of a status report. */
export function formatStatus(r: StatusReport): string[] {
  const field = (key: string): string => {
    const v = r.state[key];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
  };
  const mark = (slot: Slot) =>
    [slot === r.running_slot ? 'running' : '', slot === r.active_slot ? 'active' : '']
      .filter(Boolean)
      .join(', ');
  const lines = [
    'Slots:',
    ...SLOTS.map((slot) =>
      `  ${slot}  ${(r.slots[slot].version ?? '(empty)').padEnd(14)} ${mark(slot) ? `(${mark(slot)})` : ''}`.trimEnd(),
    ),
    `Boot:      active ${r.active_slot}, running ${r.running_slot ?? 'unknown'}, ` +
      `counter ${r.boot_counter}, ${r.boot_success ? 'committed' : 'on trial (not yet committed)'}`,
    `Update:    ${field('phase')}` +
      (field('to_version')
        ? ` (${field('from_version') || '?'} → ${field('to_version')}, slot ${field('target_slot') || '?'})`
        : ''),
  ];
  if (field('reason')) {
    lines.push(
      `Reason:    ${field('reason')}${field('last_error') ? `: ${field('last_error')}` : ''}`,
    );
  }
  lines.push(
    `Attempts:  ${field('attempt_count')}, health check failures: ${field('health_check_failures')}`,
  );
  if (field('updated_at')) lines.push(`Updated:   ${field('updated_at')}`);
  return lines;
}
