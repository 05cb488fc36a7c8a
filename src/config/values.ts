/**
 * Value parsers for update.conf keys and their command-line twins. Each takes the raw
 * (trimmed, unquoted) text and returns the typed value, or throws ConfigError with a
 * stable code; the caller adds file, line and key (src/config/file.ts) or the flag name
 * (src/config/merge.ts).
 */
import { ConfigError } from '../errors.js';
import { parseTimeZone } from './time-zone.js';
import { parseMaintenanceWindow } from './window.js';

export type ValueParser<T> = (raw: string) => T;

function invalidValue(why: string): ConfigError {
  return new ConfigError('CONFIG_INVALID_VALUE', why);
}

/** Any non-empty text (empty values never reach a parser: they mean "unset"). */
export const text: ValueParser<string> = (raw) => raw;

/** Text matching `re`; `what` names the expected shape in the error. */
export function matching(re: RegExp, what: string): ValueParser<string> {
  return (raw) => {
    if (!re.test(raw)) throw invalidValue(`expected ${what}, got ${JSON.stringify(raw)}`);
    return raw;
  };
}

/**
 * An absolute path. Paths in update.conf are resolved under --root (docs/design.md §3.1);
 * a relative one would depend on the working directory of whoever runs the agent
 * (CronJob, init, an operator's shell), so it is refused.
 */
export const absolutePath: ValueParser<string> = (raw) => {
  if (!raw.startsWith('/'))
    throw invalidValue(`expected an absolute path, got ${JSON.stringify(raw)}`);
  if (raw.includes('\0')) throw invalidValue('path contains a NUL byte');
  return raw;
};

/** An absolute http:// or https:// URL (WHATWG URL parsing, as undici uses). */
export const httpUrl: ValueParser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidValue(`expected an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidValue(`expected an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  return raw;
};

/** A decimal integer in [min, max]; no sign, no exponent, no fraction, no hex. */
export function integer(min: number, max: number): ValueParser<number> {
  return (raw) => {
    if (!/^\d{1,9}$/.test(raw)) {
      throw invalidValue(`expected a whole number ${min}..${max}, got ${JSON.stringify(raw)}`);
    }
    const n = Number(raw);
    if (n < min || n > max) {
      throw invalidValue(`expected a whole number ${min}..${max}, got ${raw}`);
    }
    return n;
  };
}

// Go's strconv.ParseBool set, so files written for the KubeSolo OS Go agent keep working.
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export const boolean: ValueParser<boolean> = (raw) => {
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  throw invalidValue(`expected true or false, got ${JSON.stringify(raw)}`);
};

export function oneOf<T extends string>(values: readonly T[]): ValueParser<T> {
  return (raw) => {
    if ((values as readonly string[]).includes(raw)) return raw as T;
    throw invalidValue(`expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
  };
}

/** Comma-separated names from `allowed`; blanks dropped, duplicates removed, order kept. */
export function nameList(allowed: readonly string[]): ValueParser<string[]> {
  return (raw) => {
    const out: string[] = [];
    for (const part of raw.split(',')) {
      const name = part.trim();
      if (name === '') continue;
      if (!allowed.includes(name)) {
        throw invalidValue(`unknown name ${JSON.stringify(name)}; known: ${allowed.join(', ')}`);
      }
      if (!out.includes(name)) out.push(name);
    }
    if (out.length === 0) throw invalidValue(`expected at least one of ${allowed.join(', ')}`);
    return out;
  };
}

/** `HH:MM-HH:MM`, validated; stored in canonical form. */
export const maintenanceWindow: ValueParser<string> = (raw) => {
  // parseMaintenanceWindow throws MAINTENANCE_WINDOW_INVALID; raw is never empty here.
  return parseMaintenanceWindow(raw)?.text ?? raw;
};

/** `time_zone`: an IANA zone name the platform knows (TIME_ZONE_INVALID otherwise). */
export const timeZone: ValueParser<string> = parseTimeZone;

const DEADLINE_UNIT: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600 };
/** Shortest commit deadline: a boot must get a chance to reach its health check. */
const MIN_COMMIT_DEADLINE = 30;
const MAX_COMMIT_DEADLINE = 86_400;

/**
 * `commit_deadline`: `0` (off) or a duration of 30 s .. 24 h written `N`, `Ns`, `Nm` or
 * `Nh` (N up to 6 digits), in seconds. os/init.d/20-kubesolo-update-watchdog.sh parses
 * the same grammar in sh; change both together.
 */
export const commitDeadline: ValueParser<number> = (raw) => {
  const m = /^(\d{1,6})([smh]?)$/.exec(raw);
  const seconds = m ? Number(m[1]) * DEADLINE_UNIT[m[2]!]! : NaN;
  if (!m || (seconds !== 0 && (seconds < MIN_COMMIT_DEADLINE || seconds > MAX_COMMIT_DEADLINE))) {
    throw invalidValue(
      `expected 0 (off) or a duration of 30s..24h such as 900, 900s, 15m or 1h, got ${JSON.stringify(raw)}`,
    );
  }
  return seconds;
};
