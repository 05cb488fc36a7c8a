/**
 * `status`: the boot side and the lifecycle in one report (docs/design.md §3.5). Degraded
 * mode: whatever cannot be read (a corrupt grubenv, an unreadable state.json or slot)
 * is reported as null with an entry in `problems` naming the cause, and everything
 * else is still shown: the operator must be able to look when the device is sick.
 */
import { SLOTS, type BootState, type Slot } from '../bootenv/types.js';
import { toKubesoloError } from '../errors.js';
import type { SlotStore } from '../slots/types.js';
import { toFileShape, type UpdateState } from './state.js';

export interface StatusProblem {
  /** What could not be read: grubenv, state, slot A, slot B. */
  source: string;
  code: string;
  message: string;
}

export interface StatusReport {
  active_slot: Slot | null;
  passive_slot: Slot | null;
  running_slot: Slot | null;
  boot_counter: number | null;
  boot_success: boolean | null;
  slots: Record<Slot, { version: string | null }>;
  state: Record<string, unknown> | null;
  problems: StatusProblem[];
}

export function statusProblem(source: string, err: unknown): StatusProblem {
  const e = toKubesoloError(err);
  return { source, code: e.code, message: e.message };
}

export interface StatusInputs {
  /** undefined when the GRUB environment could not be read (see problems). */
  boot: BootState | undefined;
  runningSlot: Slot | undefined;
  state: UpdateState | undefined;
  problems: StatusProblem[];
}

export async function buildStatus(input: StatusInputs, slots: SlotStore): Promise<StatusReport> {
  const problems = [...input.problems];
  const versions = await Promise.all(
    SLOTS.map((s) =>
      slots.readVersion(s).catch((err: unknown) => {
        problems.push(statusProblem(`slot ${s}`, err));
        return undefined;
      }),
    ),
  );
  const { boot } = input;
  return {
    active_slot: boot?.activeSlot ?? null,
    passive_slot: boot?.passiveSlot ?? null,
    running_slot: input.runningSlot ?? null,
    boot_counter: boot?.bootCounter ?? null,
    boot_success: boot?.bootSuccess ?? null,
    slots: { A: { version: versions[0] ?? null }, B: { version: versions[1] ?? null } },
    state: input.state ? toFileShape(input.state) : null,
    problems,
  };
}

/** The human view of a status report. */
export function formatStatus(r: StatusReport): string[] {
  const field = (key: string): string => {
    const v = r.state?.[key];
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
    r.active_slot === null
      ? `Boot:      unreadable, running ${r.running_slot ?? 'unknown'}`
      : `Boot:      active ${r.active_slot}, running ${r.running_slot ?? 'unknown'}, ` +
        `counter ${r.boot_counter ?? '?'}, ${r.boot_success ? 'committed' : 'on trial (not yet committed)'}`,
    `Update:    ${r.state === null ? 'unreadable' : field('phase')}` +
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
  for (const p of r.problems) lines.push(`Problem:   ${p.source}: ${p.code}: ${p.message}`);
  return lines;
}
