/**
 * The options `publish` and `push` share, written once: what the release is for
 * (channel, architecture, boards, minimum running version, notes) and fleet safety
 * (docs/publishing.md "Waves, floor and expiry"): the expiry (30 days unless told
 * otherwise), the rollout waves and `min_version`. Values go through the device's own
 * parsers, so the tools refuse what a device would; and two mistakes a device cannot see
 * are refused here: an architecture no device has, and a rollout that never reaches the
 * whole fleet without --partial-rollout.
 */
import { KubesoloError, UsageError } from '../../errors.js';
import { parseRollout, type RolloutSchedule } from '../../fleet/rollout.js';
import { parseDuration } from '../../release/duration.js';
import { BOARD_NAME } from '../../config/board.js';
import { didYouMean } from '../../config/suggest.js';
import { ARCH_ALIASES, KNOWN_ARCHITECTURES } from '../../metadata/arch.js';
import { rfc3339, type FleetFields, type ReleaseFields } from '../../release/fleet-fields.js';
import { ARTIFACT_NAMES, imageFile } from '../../metadata/images.js';
import { IMAGE_FLAG } from '../../release/publish.js';
import { boolOpt, listOpt, stringOpt, type OptionSpec, type OptionValues } from '../command.js';

/** What `publish` and `push` write as `expires` when no --expires-in is given. */
const DEFAULT_EXPIRES_IN = '30d';

/** What `publish` and `push` make a release of: the signing key, the version and one file per image. */
export const releaseInputOptions: Record<string, OptionSpec> = {
  key: { type: 'string', valueName: 'KEY', description: 'Ed25519 private key (PKCS#8 PEM)' },
  'release-version': {
    type: 'string',
    valueName: 'V',
    description: 'Release version, e.g. v0.3.1 ([v]MAJOR.MINOR.PATCH[-pre][+build])',
  },
  ...Object.fromEntries(
    ARTIFACT_NAMES.map((name) => [
      IMAGE_FLAG[name],
      {
        type: 'string',
        valueName: 'FILE',
        description: `The ${IMAGE_FLAG[name]} (${imageFile(name)})`,
      } satisfies OptionSpec,
    ]),
  ),
};

/**
 * How `command` reads an option it cannot do without: MISSING_OPTION when it is absent
 * or empty.
 */
export function requiredOptionOf(command: string): (values: OptionValues, name: string) => string {
  return (values, name) => {
    const v = stringOpt(values, name);
    if (v === undefined || v === '') {
      throw new UsageError('MISSING_OPTION', `${command} needs --${name}`, {
        details: { option: name },
      });
    }
    return v;
  };
}

export const releaseOptions: Record<string, OptionSpec> = {
  channel: { type: 'string', valueName: 'NAME', description: 'Channel (stable, beta, ...)' },
  arch: {
    type: 'string',
    valueName: 'ARCH',
    description: `Go architecture name: ${KNOWN_ARCHITECTURES.join(', ')}`,
  },
  compatible: {
    type: 'string',
    multiple: true,
    valueName: 'BOARD',
    description: 'A board the release is built for, repeatable; other boards refuse it',
  },
  'min-compatible-version': {
    type: 'string',
    valueName: 'V',
    description: 'Oldest running version that may update to this one',
  },
  'release-notes': { type: 'string', valueName: 'TEXT', description: 'Release notes' },
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
  'partial-rollout': {
    type: 'boolean',
    description: 'Allow waves whose last one stays below 100 % (the rest never gets it)',
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
  let schedule: RolloutSchedule;
  try {
    schedule = parseRollout({ start: start ?? rfc3339(now), waves: list });
  } catch (err) {
    if (!(err instanceof KubesoloError)) throw err;
    const field = typeof err.details.field === 'string' ? err.details.field : '';
    throw new UsageError(
      'INVALID_WAVE',
      `${field === 'rollout.start' ? '--rollout-start' : '--wave'}: ${err.message}`,
      { cause: err, details: err.details },
    );
  }
  const reach = Math.max(...schedule.waves.map((w) => w.percent));
  if (reach < 100 && !boolOpt(values, 'partial-rollout')) {
    throw new UsageError(
      'ROLLOUT_PARTIAL',
      `the last wave reaches ${reach} % of the fleet: the other ${100 - reach} % would never get this release. Add a last wave such as --wave 100@7d, or pass --partial-rollout if that is meant`,
      { details: { percent: reach } },
    );
  }
  return schedule;
}

/** An architecture devices know, or a usage error naming the one meant (x86_64 → amd64). */
function architecture(value: string): string {
  if (KNOWN_ARCHITECTURES.includes(value)) return value;
  const meant = ARCH_ALIASES[value.toLowerCase()];
  const hint =
    meant !== undefined ? ` Did you mean '${meant}'?` : didYouMean(value, KNOWN_ARCHITECTURES);
  throw new UsageError(
    'UNKNOWN_ARCHITECTURE',
    `--arch ${value}: no device reports that architecture (Go names: ${KNOWN_ARCHITECTURES.join(', ')}).${hint}`,
    { details: { option: 'arch', value } },
  );
}

function boards(values: OptionValues): string[] | undefined {
  const list = listOpt(values, 'compatible');
  for (const board of list) {
    if (!BOARD_NAME.test(board)) {
      throw new UsageError(
        'INVALID_BOARD',
        `--compatible ${JSON.stringify(board)}: a board name is 1-64 of letters, digits, . _ , + - (starting with a letter or digit)`,
        { details: { option: 'compatible', value: board } },
      );
    }
  }
  return list.length === 0 ? undefined : [...new Set(list)];
}

/** The release fields the options ask for, at `now` (`arch` required by push). */
export function releaseFieldsFromOptions(
  values: OptionValues,
  now: Date,
  need: { arch: true; command: string },
): ReleaseFields & { architecture: string };
export function releaseFieldsFromOptions(
  values: OptionValues,
  now: Date,
  need: { arch: false; command: string },
): ReleaseFields;
export function releaseFieldsFromOptions(
  values: OptionValues,
  now: Date,
  need: { arch: boolean; command: string },
): ReleaseFields {
  const arch = stringOpt(values, 'arch');
  if (arch === undefined && need.arch) {
    throw new UsageError('MISSING_OPTION', `${need.command} needs --arch`, {
      details: { option: 'arch' },
    });
  }
  const compatible = boards(values);
  return {
    channel: stringOpt(values, 'channel'),
    ...(arch === undefined ? {} : { architecture: architecture(arch) }),
    ...(compatible === undefined ? {} : { compatible }),
    minCompatibleVersion: stringOpt(values, 'min-compatible-version'),
    releaseNotes: stringOpt(values, 'release-notes'),
    ...fleetFieldsFromOptions(values, now),
  };
}

/** The fleet fields the options ask for, at `now`. */
function fleetFieldsFromOptions(values: OptionValues, now: Date): FleetFields {
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
