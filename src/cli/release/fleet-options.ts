/**
 * The options `publish` and `push` share for fleet safety (docs/publishing.md "Waves,
 * floor and expiry"): the expiry (30 days unless told otherwise), the rollout waves and
 * `min_version`. The schedule goes through the device's own parser, so the tool refuses
 * exactly what a device would.
 */
import { KubesoloError, UsageError } from '../../errors.js';
import { parseRollout, type RolloutSchedule } from '../../fleet/rollout.js';
import { parseDuration } from '../../release/duration.js';
import { rfc3339, type FleetFields } from '../../release/fleet-fields.js';
import { boolOpt, listOpt, stringOpt, type OptionSpec, type OptionValues } from '../command.js';

/** What `publish` and `push` write as `expires` when no --expires-in is given. */
export const DEFAULT_EXPIRES_IN = '30d';

export const fleetOptions: Record<string, OptionSpec> = {
  'expires-in': {
    type: 'string',
    valueName: 'DURATION',
    description: `Metadata lifetime (s, m, h, d, w); devices refuse it after. Default ${DEFAULT_EXPIRES_IN}`,
  },
  'no-expiry': {
    type: 'boolean',
    description: 'Write no expires (metadata that never goes stale; not recommended)',
  },
  wave: {
    type: 'string',
    multiple: true,
    valueName: 'PERCENT@AFTER',
    description:
      'A rollout wave, repeatable: --wave 1@0s --wave 10@1d --wave 100@3d (docs/operating.md)',
  },
  'rollout-start': {
    type: 'string',
    valueName: 'RFC3339',
    description: 'When the first wave counts from (default: now)',
  },
  'min-version': {
    type: 'string',
    valueName: 'V',
    description: "Raise every device's anti-rollback floor to V (a release that fixes a hole)",
  },
};

function parseWaves(values: OptionValues, now: Date): RolloutSchedule | undefined {
  const waves = listOpt(values, 'wave');
  const start = stringOpt(values, 'rollout-start');
  if (waves.length === 0) {
    if (start !== undefined) {
      throw new UsageError('MISSING_OPTION', '--rollout-start needs at least one --wave', {
        details: { option: 'wave' },
      });
    }
    return undefined;
  }
  const list = waves.map((w) => {
    const m = /^(\d{1,3})%?@(\S+)$/.exec(w.trim());
    if (!m) {
      throw new UsageError(
        'INVALID_WAVE',
        `--wave takes PERCENT@AFTER such as 10@1d (percent of the fleet, delay from the start), not '${w}'`,
        { details: { value: w } },
      );
    }
    return { percent: Number(m[1]), after: m[2] };
  });
  try {
    return parseRollout({ start: start ?? rfc3339(now), waves: list });
  } catch (err) {
    if (!(err instanceof KubesoloError)) throw err;
    const field = typeof err.details.field === 'string' ? err.details.field : '';
    throw new UsageError(
      'INVALID_WAVE',
      `${field === 'rollout.start' ? '--rollout-start' : '--wave'}: ${err.message}`,
      { cause: err, details: err.details },
    );
  }
}

/** The fleet fields the options ask for, at `now`. */
export function fleetFieldsFromOptions(values: OptionValues, now: Date): FleetFields {
  const expiresIn = stringOpt(values, 'expires-in');
  if (boolOpt(values, 'no-expiry') && expiresIn !== undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', '--expires-in and --no-expiry: choose one');
  }
  const rollout = parseWaves(values, now);
  const minVersion = stringOpt(values, 'min-version');
  return {
    ...(boolOpt(values, 'no-expiry')
      ? {}
      : { expiresInSeconds: parseDuration(expiresIn ?? DEFAULT_EXPIRES_IN, '--expires-in') }),
    ...(rollout === undefined ? {} : { rollout }),
    ...(minVersion === undefined ? {} : { minVersion }),
  };
}
