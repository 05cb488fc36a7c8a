/**
 * Keys in update.conf that the agent does not know. A newer config must not break an
 * older agent, so by default they are warned about (with the nearest known key: a
 * typo in `channel` would otherwise silently switch the channel gate off); with
 * `--strict` they are an error, CONFIG_UNKNOWN_KEY (exit 2).
 */
import { nearest } from './suggest.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { KEY_SPECS } from './keys.js';

export interface UnknownKey {
  key: string;
  file: string;
  line: number;
  /** The known key it is probably a typo of. */
  suggestion?: string;
}

export function unknownKey(key: string, file: string, line: number): UnknownKey {
  const suggestion = nearest(
    key,
    KEY_SPECS.map((s) => s.key),
  );
  return { key, file, line, ...(suggestion !== undefined ? { suggestion } : {}) };
}

export function describeUnknownKey(u: UnknownKey): string {
  return `${u.file}:${u.line}: unknown key '${u.key}'${u.suggestion ? ` (did you mean '${u.suggestion}'?)` : ''}`;
}

/** Warn about each unknown key, or refuse the first one when `strict`. */
export function reportUnknownKeys(found: UnknownKey[], log: Logger, strict: boolean): void {
  const first = found[0];
  if (strict && first !== undefined) {
    throw new ConfigError(
      'CONFIG_UNKNOWN_KEY',
      `${describeUnknownKey(first)}; remove it or fix its name (--strict refuses unknown keys)`,
      { details: { ...first, unknownKeys: found.map((u) => u.key) } },
    );
  }
  for (const u of found) {
    log.warn(`${describeUnknownKey(u)}; it is ignored`, {
      code: 'CONFIG_UNKNOWN_KEY',
      file: u.file,
      line: u.line,
      key: u.key,
      ...(u.suggestion ? { suggestion: u.suggestion } : {}),
    });
  }
}
