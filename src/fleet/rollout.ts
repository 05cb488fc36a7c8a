/**
 * Staged rollouts (waves) carried in signed metadata (docs/formats.md "rollout",
 * docs/operating.md "Rolling a release out in waves"). Pure: no clock, no I/O.
 *
 * A release may carry `rollout: { start, waves: [{ percent, after }] }`. Wave k opens
 * at `start + after_k` and lets in every device whose bucket is below `percent_k`. A
 * device's bucket is a stable number in [0, 100) derived from its private identifier
 * (src/fleet/device-id.ts) and the release version, so one device is not always among
 * the first: each release draws a new order.
 */
import { createHmac } from 'node:crypto';
import { VerificationError } from '../errors.js';

export interface Wave {
  /** Devices with a bucket below this (1..100) are in once the wave opens. */
  percent: number;
  /** Seconds after the schedule's start at which the wave opens. */
  afterSeconds: number;
  /** `after` as written (`0s`, `1d`), for display. */
  after: string;
}

export interface RolloutSchedule {
  /** RFC 3339, as written. */
  start: string;
  /** Waves in order: percent strictly increasing, `after` never decreasing. */
  waves: Wave[];
}

/** At most this many waves: a schedule is read from untrusted-size metadata. */
const MAX_WAVES = 32;

/** RFC 3339 §5.6 date-time (with the `T`/`Z` case-insensitivity §5.6 allows). */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;
/** The last instant a 4-digit year can name: every time we print stays RFC 3339. */
const LAST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const DELAY = /^(\d{1,6})([smhdw])$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * An RFC 3339 date-time → epoch ms, or NaN when it is not one. The calendar is checked
 * (§5.7: day within its month, hour 00-23, minute and second 00-59; leap seconds are
 * not accepted), so `2026-02-30` is refused rather than rolled over to March 2 as
 * Date.parse would.
 */
export function parseRfc3339(text: string): number {
  const m = RFC3339.exec(text);
  if (m === null) return NaN;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const [offH, offM] = [Number(m[8] ?? 0), Number(m[9] ?? 0)];
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 0) - 1, day ?? 0));
  if (
    calendar.getUTCFullYear() !== year ||
    calendar.getUTCMonth() !== (month ?? 0) - 1 ||
    calendar.getUTCDate() !== day ||
    (hour ?? 0) > 23 ||
    (minute ?? 0) > 59 ||
    (second ?? 0) > 59 ||
    offH > 23 ||
    offM > 59
  ) {
    return NaN;
  }
  return Date.parse(text);
}

function invalid(field: string, message: string, value?: unknown): VerificationError {
  return new VerificationError('METADATA_FIELD_INVALID', `latest.json: ${field} ${message}`, {
    details: { field, ...(value === undefined ? {} : { value }) },
  });
}

/** `0s`, `90m`, `36h`, `1d`, `2w`: a whole number and one unit; 0 means "at the start". */
function parseWaveDelay(text: string): number | undefined {
  const m = DELAY.exec(text);
  return m ? Number(m[1]) * UNIT_SECONDS[m[2]!]! : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validate latest.json's `rollout` value (`field` names it in errors). Unknown keys are
 * ignored, as everywhere in latest.json: an agent that refused a schedule written for a
 * newer one would refuse the very release that updates it.
 */
export function parseRollout(value: unknown, field = 'rollout'): RolloutSchedule {
  if (!isObject(value)) throw invalid(field, 'must be an object { start, waves }');
  const start = value.start;
  if (typeof start !== 'string' || Number.isNaN(parseRfc3339(start))) {
    throw invalid(`${field}.start`, 'must be an RFC 3339 date-time', start);
  }
  const list = value.waves;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_WAVES) {
    throw invalid(`${field}.waves`, `must be a list of 1 to ${MAX_WAVES} waves`);
  }
  const waves: Wave[] = [];
  for (const [i, raw] of list.entries()) {
    const where = `${field}.waves[${i}]`;
    if (!isObject(raw)) throw invalid(where, 'must be an object { percent, after }');
    const { percent, after } = raw;
    if (typeof percent !== 'number' || !Number.isInteger(percent) || percent < 1 || percent > 100) {
      throw invalid(`${where}.percent`, 'must be a whole number 1..100', percent);
    }
    const afterSeconds = typeof after === 'string' ? parseWaveDelay(after) : undefined;
    if (afterSeconds === undefined) {
      throw invalid(`${where}.after`, 'must be a delay such as "0s", "12h", "1d" or "2w"', after);
    }
    const previous = waves[waves.length - 1];
    if (previous && percent <= previous.percent) {
      throw invalid(
        `${where}.percent`,
        `must be larger than the wave before (${previous.percent})`,
        percent,
      );
    }
    if (previous && afterSeconds < previous.afterSeconds) {
      throw invalid(
        `${where}.after`,
        `must not be earlier than the wave before (${previous.after})`,
        after,
      );
    }
    if (parseRfc3339(start) + afterSeconds * 1000 > LAST_INSTANT_MS) {
      throw invalid(`${where}.after`, 'opens after the year 9999', after);
    }
    waves.push({ percent, afterSeconds, after: after as string });
  }
  return { start, waves };
}

/** A schedule as latest.json carries it. */
export interface RolloutJson {
  start: string;
  waves: { percent: number; after: string }[];
}

/** The JSON form of a schedule, as latest.json carries it. */
export function rolloutJson(schedule: RolloutSchedule): RolloutJson {
  return {
    start: schedule.start,
    waves: schedule.waves.map((w) => ({ percent: w.percent, after: w.after })),
  };
}

// Domain separation: this HMAC's output is used for nothing else.
const BUCKET_CONTEXT = 'kubesolo-update rollout bucket v1\0';

/**
 * The device's bucket in [0, 100) for `version`: HMAC-SHA256 keyed with the device's
 * private identifier over the version, first 8 bytes read as an integer, reduced mod
 * 100 (the bias of 2^64 mod 100 is below 10^-17). Whoever knows only the version cannot
 * tell which devices go first, and each version orders the fleet afresh.
 */
export function rolloutBucket(deviceId: string, version: string): number {
  const mac = createHmac('sha256', deviceId)
    .update(BUCKET_CONTEXT + version)
    .digest();
  return Number(mac.readBigUInt64BE(0) % 100n);
}

export function waveOpensAt(schedule: RolloutSchedule, wave: Wave): Date {
  return new Date(parseRfc3339(schedule.start) + wave.afterSeconds * 1000);
}

/** `2026-12-03 14:00 UTC` (seconds shown only when not zero). */
export function formatUtc(date: Date): string {
  const iso = date.toISOString();
  const seconds = iso.slice(17, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${seconds === '00' ? '' : `:${seconds}`} UTC`;
}

export interface RolloutPosition {
  /** Waves open at `now` (0: the rollout has not started). */
  openWaves: number;
  /** Share of the fleet let in at `now`, 0..100. */
  openPercent: number;
  /** The next wave to open, 1-based, and when; absent when all are open. */
  next?: { wave: number; percent: number; opensAt: Date };
}

/** Which waves are open at `now`. */
export function rolloutPosition(schedule: RolloutSchedule, now: Date): RolloutPosition {
  let openWaves = 0;
  for (const wave of schedule.waves) {
    if (waveOpensAt(schedule, wave).getTime() > now.getTime()) break;
    openWaves++;
  }
  const openPercent = openWaves === 0 ? 0 : schedule.waves[openWaves - 1]!.percent;
  const nextWave = schedule.waves[openWaves];
  return {
    openWaves,
    openPercent,
    ...(nextWave
      ? {
          next: {
            wave: openWaves + 1,
            percent: nextWave.percent,
            opensAt: waveOpensAt(schedule, nextWave),
          },
        }
      : {}),
  };
}

export interface RolloutDecision {
  /** The release may be installed on this device now. */
  open: boolean;
  /** The device's bucket; undefined when the device has no identifier yet. */
  bucket: number | undefined;
  /** The wave (1-based) that lets this device in; undefined: no wave does. */
  deviceWave: number | undefined;
  /** When that wave opens. */
  deviceOpensAt: Date | undefined;
  position: RolloutPosition;
  /** One line for `check` and refusals. */
  explanation: string;
}

function describeWave(schedule: RolloutSchedule, index: number): string {
  return `wave ${index + 1} of ${schedule.waves.length} (${schedule.waves[index]!.percent} %)`;
}

/**
 * The rollout verdict for a device with `bucket` (undefined: no identifier yet, so only
 * a wave open to everyone lets it in) at `now`.
 */
export function decideRollout(
  schedule: RolloutSchedule,
  now: Date,
  bucket: number | undefined,
): RolloutDecision {
  const position = rolloutPosition(schedule, now);
  const waveIndex =
    bucket === undefined
      ? schedule.waves.findIndex((w) => w.percent === 100)
      : schedule.waves.findIndex((w) => bucket < w.percent);
  const deviceWave = waveIndex < 0 ? undefined : waveIndex + 1;
  const deviceOpensAt =
    waveIndex < 0 ? undefined : waveOpensAt(schedule, schedule.waves[waveIndex]!);
  const open = deviceWave !== undefined && deviceWave <= position.openWaves;
  const who =
    bucket === undefined
      ? 'this device has no rollout bucket yet'
      : `this device is in bucket ${bucket}`;
  let explanation: string;
  if (open) {
    explanation = `${describeWave(schedule, waveIndex)} opened ${formatUtc(deviceOpensAt!)}; ${who}`;
  } else {
    const state = position.next
      ? `${describeWave(schedule, position.next.wave - 1)} opens ${formatUtc(position.next.opensAt)}`
      : schedule.waves.length === 1
        ? `the only wave is open (${position.openPercent} %)`
        : `all ${schedule.waves.length} waves are open (${position.openPercent} %)`;
    const mine =
      deviceWave === undefined
        ? bucket === undefined
          ? ', and no wave reaches every device'
          : `, which no wave reaches (the last stops at ${schedule.waves[schedule.waves.length - 1]!.percent} %)`
        : deviceWave === position.next?.wave
          ? ''
          : `, in wave ${deviceWave} (opens ${formatUtc(deviceOpensAt!)})`;
    explanation = `${state}; ${who}${mine}`;
  }
  return { open, bucket, deviceWave, deviceOpensAt, position, explanation };
}
