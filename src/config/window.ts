/**
 * Maintenance windows (issue #2 §4): `HH:MM-HH:MM` in the device's LOCAL time.
 *
 * Semantics, decided here and documented in docs/configuration.md:
 * - start inclusive, end exclusive, minute resolution;
 * - a window whose end is before its start wraps midnight (`23:00-01:00`);
 * - a zero-length window (`02:00-02:00`) never matches: it is almost always a typo and
 *   "never" is the safe reading for an update gate;
 * - `24:00` is not a valid time (use `00:00`);
 * - on a DST change day the window is read on the wall clock: only the local
 *   hour and minute of the instant matter. A window inside the skipped spring-forward
 *   hour does not open that day; a window inside the repeated fall-back hour is open
 *   during both passes.
 *
 * "Local" is the zone passed in: `time_zone` or the host's /etc/localtime, resolved by
 * src/config/time-zone.ts and evaluated with Intl (the platform's tz database). Without
 * a zone the process's own local time is used (its TZ / /etc/localtime).
 */
import { ConfigError } from '../errors.js';

export interface MaintenanceWindow {
  /** Minutes after local midnight, 0..1439, inclusive. */
  readonly start: number;
  /** Minutes after local midnight, 0..1439, exclusive. */
  readonly end: number;
  /** Canonical `HH:MM-HH:MM` text. */
  readonly text: string;
}

// Two digits for the hour and the minute; range checked below so that 24:00 and 12:60
// get a precise message instead of a generic "malformed".
const WINDOW_RE = /^(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})$/;

function invalid(text: string, why: string): ConfigError {
  return new ConfigError(
    'MAINTENANCE_WINDOW_INVALID',
    `invalid maintenance window ${JSON.stringify(text)}: ${why} (expected HH:MM-HH:MM, 00:00..23:59)`,
    { details: { window: text } },
  );
}

function toMinutes(text: string, hh: string, mm: string): number {
  const h = Number(hh);
  const m = Number(mm);
  if (h > 23) throw invalid(text, `hour ${hh} is out of range`);
  if (m > 59) throw invalid(text, `minute ${mm} is out of range`);
  return h * 60 + m;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `HH:MM` of a minute of the day. */
export function formatMinute(minute: number): string {
  return `${pad(Math.floor(minute / 60))}:${pad(minute % 60)}`;
}

/**
 * Parse `HH:MM-HH:MM`. Empty or undefined means "no window" (always open) and returns
 * undefined. Anything else malformed throws ConfigError MAINTENANCE_WINDOW_INVALID.
 */
export function parseMaintenanceWindow(text: string | undefined): MaintenanceWindow | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const m = WINDOW_RE.exec(trimmed);
  if (!m) throw invalid(text, 'malformed');
  const start = toMinutes(text, m[1]!, m[2]!);
  const end = toMinutes(text, m[3]!, m[4]!);
  return { start, end, text: `${formatMinute(start)}-${formatMinute(end)}` };
}

// One formatter per zone: building an Intl.DateTimeFormat is far slower than using it,
// and a window is asked about minute after minute (tests walk thousands of them).
const formatters = new Map<string, Intl.DateTimeFormat>();

/** The formatter of `fields` in `timeZone`, built once per zone and kind of fields. */
function formatter(
  kind: 'time' | 'date',
  timeZone: string,
  fields: Intl.DateTimeFormatOptions,
): Intl.DateTimeFormat {
  const cacheKey = `${kind} ${timeZone}`;
  let f = formatters.get(cacheKey);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, ...fields });
    formatters.set(cacheKey, f);
  }
  return f;
}

function wallClock(timeZone: string): Intl.DateTimeFormat {
  return formatter('time', timeZone, { hourCycle: 'h23', hour: 'numeric', minute: 'numeric' });
}

/**
 * Minute of the local day of `at` (wall clock, DST included) in `timeZone` (an IANA
 * name), or in the process's local time when no zone is given.
 */
export function localMinuteOfDay(at: Date, timeZone?: string): number {
  if (timeZone === undefined) return at.getHours() * 60 + at.getMinutes();
  let hour = 0;
  let minute = 0;
  for (const part of wallClock(timeZone).formatToParts(at)) {
    if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return hour * 60 + minute;
}

/** `HH:MM` of `at` on the wall clock of `timeZone` (process local time without one). */
export function formatLocalTime(at: Date, timeZone?: string): string {
  return formatMinute(localMinuteOfDay(at, timeZone));
}

/** True when `minute` (0..1439) lies in the window. */
export function windowContainsMinute(w: MaintenanceWindow, minute: number): boolean {
  if (w.start === w.end) return false; // zero-length: never open
  if (w.start < w.end) return minute >= w.start && minute < w.end;
  return minute >= w.start || minute < w.end; // wraps midnight
}

/** Is the window open at `at`, on the wall clock of `timeZone`? No window: always open. */
export function isWithinWindow(
  w: MaintenanceWindow | undefined,
  at: Date,
  timeZone?: string,
): boolean {
  if (w === undefined) return true;
  return windowContainsMinute(w, localMinuteOfDay(at, timeZone));
}

/** Minutes a window is open on an ordinary day (no DST change). */
function windowMinutes(w: MaintenanceWindow): number {
  return (w.end - w.start + 1440) % 1440;
}

const MINUTE_MS = 60_000;

/**
 * The next instant after `from` at which the window opens (closed → open on the wall
 * clock of `timeZone`, the reading isWithinWindow makes: a start inside a skipped DST
 * hour opens when the clock comes out of the gap). Undefined: it never opens, or it is
 * shorter than `marginSeconds` and so never leaves an activation enough of it. This is
 * the one place the next opening is computed: the window gate's refusal, the
 * activation's deferral and their --json fields all say this instant.
 */
export function nextWindowOpening(
  w: MaintenanceWindow,
  from: Date,
  timeZone?: string,
  marginSeconds = 0,
): Date | undefined {
  if (w.start === w.end || windowMinutes(w) * 60 < marginSeconds) return undefined;
  const first = Math.floor(from.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  // Skip ahead to two hours before the start on the wall clock, when the clock does
  // not change its offset on the way (a DST change: the clock may move back into the
  // window, which opens it again). Otherwise walk every minute.
  const ahead = (w.start - localMinuteOfDay(new Date(first), timeZone) + 1440) % 1440;
  const skipTo = first + Math.max(0, ahead - 120) * MINUTE_MS;
  let t = utcOffsetMinutes(first, timeZone) === utcOffsetMinutes(skipTo, timeZone) ? skipTo : first;
  let wasOpen = isWithinWindow(w, new Date(t - MINUTE_MS), timeZone);
  for (let i = 0; i <= 3 * 1440; i++, t += MINUTE_MS) {
    const open = isWithinWindow(w, new Date(t), timeZone);
    if (open && !wasOpen) return new Date(t);
    wasOpen = open;
  }
  return undefined;
}

/** The zone's offset from UTC at `t`, in minutes modulo a day (as the wall clock reads it). */
function utcOffsetMinutes(t: number, timeZone: string | undefined): number {
  const at = new Date(t);
  const utc = at.getUTCHours() * 60 + at.getUTCMinutes();
  return (localMinuteOfDay(at, timeZone) - utc + 1440) % 1440;
}

/**
 * `YYYY-MM-DD HH:MM` of `at` on the wall clock of `timeZone` (process local time
 * without one): how a person reads the next opening.
 */
export function formatLocalDateTime(at: Date, timeZone?: string): string {
  if (timeZone === undefined) {
    return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${formatLocalTime(at)}`;
  }
  const parts = formatter('date', timeZone, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '??';
  return `${part('year')}-${part('month')}-${part('day')} ${formatLocalTime(at, timeZone)}`;
}
