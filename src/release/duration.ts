/** Durations on the command line (`--expires-in 30d`): an integer and one unit. */
import { UsageError } from '../errors.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Parse `90s`, `15m`, `12h`, `30d` or `2w` into seconds. */
export function parseDuration(text: string, flag = 'duration'): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m || Number(m[1]) === 0) {
    throw new UsageError(
      'INVALID_DURATION',
      `${flag} must be a positive whole number with a unit s, m, h, d or w (e.g. 30d), not '${text}'`,
      { details: { value: text } },
    );
  }
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!;
}
