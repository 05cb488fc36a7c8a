/** A release's rollout schedule as `publish`, `push` and `verify` print it. */
import {
  formatUtc,
  rolloutPosition,
  waveOpensAt,
  type RolloutSchedule,
} from '../../fleet/rollout.js';
import type { Output } from '../output.js';

/** One line per wave, and (with `now`) where the rollout stands. */
export function printSchedule(
  out: Output,
  schedule: RolloutSchedule | undefined,
  now?: Date,
): void {
  if (schedule === undefined) {
    out.line('  rollout         none: every device at its next check');
    return;
  }
  const n = schedule.waves.length;
  out.line(
    `  rollout         ${n} wave${n === 1 ? '' : 's'} from ${formatUtc(new Date(Date.parse(schedule.start)))}`,
  );
  for (const [i, wave] of schedule.waves.entries()) {
    out.line(
      `    wave ${i + 1} of ${n}  ${String(wave.percent).padStart(3)} %  opens ${formatUtc(waveOpensAt(schedule, wave))} (start + ${wave.after})`,
    );
  }
  if (now === undefined) return;
  const position = rolloutPosition(schedule, now);
  const next = position.next
    ? `; wave ${position.next.wave} (${position.next.percent} %) opens ${formatUtc(position.next.opensAt)}`
    : '';
  out.line(`    now           ${position.openPercent} % of the fleet let in${next}`);
}
