/**
 * The time zone maintenance windows are read in (`time_zone=`, docs/configuration.md).
 *
 * - `time_zone` set: that IANA name (validated by Intl when the config is read).
 * - unset: the host's `/etc/localtime` under --root. A symlink into a zoneinfo tree
 *   (`/usr/share/zoneinfo/Europe/Berlin`, also via `posix/` or `right/`) names the
 *   zone. A regular file (a copied TZif file, and what a Kubernetes hostPath mount of a
 *   symlink gives a pod) carries no name: `/etc/timezone` under --root is used when it
 *   names a valid zone; else the zone whose TZif file is byte-identical in a zoneinfo
 *   tree (under --root, then the agent's own, as ICU does for the process zone);
 *   otherwise the agent says so and falls back to its own process's zone.
 * - no `/etc/localtime` under --root: the process's own zone (TZ, or the container's
 *   /etc/localtime), which is what the window used before `time_zone` existed.
 */
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { underRoot } from '../paths.js';

// IANA names: `UTC`, `Europe/Berlin`, `America/Argentina/Buenos_Aires`, `Etc/GMT+5`.
// Offsets such as `+02:00` are refused: they have no DST rules and are no zone names.
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;

/** Is `name` an IANA zone name the platform's tz database knows? */
function isTimeZoneName(name: string): boolean {
  if (!ZONE_NAME.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The `time_zone` value parser: an IANA name, or ConfigError TIME_ZONE_INVALID. */
export function parseTimeZone(raw: string): string {
  if (!isTimeZoneName(raw)) {
    throw new ConfigError(
      'TIME_ZONE_INVALID',
      `invalid time zone ${JSON.stringify(raw)}: expected an IANA name such as Europe/Berlin or UTC`,
      { details: { timeZone: raw } },
    );
  }
  return raw;
}

/** The zone a zoneinfo symlink target names (`../usr/share/zoneinfo/Europe/Berlin`). */
export function zoneFromLink(target: string): string | undefined {
  const i = target.lastIndexOf('zoneinfo/');
  if (i < 0) return undefined;
  const name = target.slice(i + 'zoneinfo/'.length).replace(/^(?:posix|right)\//, '');
  return isTimeZoneName(name) ? name : undefined;
}

export interface ResolvedTimeZone {
  /** IANA name; undefined: the process's own local time. */
  zone: string | undefined;
  /** Where it came from, for logs and `check` output. */
  source: 'time_zone' | '/etc/localtime' | '/etc/timezone' | 'zoneinfo match' | 'process';
}

/** The process's own zone name, for messages (Intl's default). */
function processTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Zone files under `dir`, Area/Location names first (then legacy ones such as CET). */
async function zoneFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) {
      // posix/ and right/ repeat the tree (right/ with leap seconds Intl does not know).
      if (!prefix && (e.name === 'posix' || e.name === 'right')) continue;
      out.push(...(await zoneFiles(dir, name)));
    } else if (e.isFile() || e.isSymbolicLink()) {
      out.push(name);
    }
  }
  return prefix
    ? out
    : [...out.filter((n) => n.includes('/')), ...out.filter((n) => !n.includes('/'))];
}

/** The name of the zone whose TZif file in one of `dirs` is byte-identical to `data`. */
async function matchZoneFile(data: Buffer, dirs: string[]): Promise<string | undefined> {
  if (data.subarray(0, 4).toString('latin1') !== 'TZif') return undefined;
  for (const dir of dirs) {
    for (const name of await zoneFiles(dir)) {
      const candidate = await readFile(join(dir, name)).catch(() => undefined);
      if (candidate !== undefined && candidate.equals(data) && isTimeZoneName(name)) return name;
    }
  }
  return undefined;
}

export async function resolveTimeZone(options: {
  configured: string | undefined;
  root: string;
  log: Logger;
}): Promise<ResolvedTimeZone> {
  const { configured, root, log } = options;
  if (configured !== undefined) return { zone: configured, source: 'time_zone' };
  const localtime = underRoot(root, '/etc/localtime');
  const info = await lstat(localtime).catch(() => undefined);
  if (info === undefined) {
    log?.debug('no /etc/localtime: maintenance windows use the process time zone', {
      timeZone: processTimeZone(),
    });
    return { zone: undefined, source: 'process' };
  }
  if (info.isSymbolicLink()) {
    const target = await readlink(localtime).catch(() => '');
    const zone = zoneFromLink(target);
    if (zone !== undefined) return { zone, source: '/etc/localtime' };
    log?.warn('/etc/localtime does not point into a zoneinfo tree; set time_zone=', {
      code: 'TIME_ZONE_UNKNOWN',
      target,
      timeZone: processTimeZone(),
    });
    return { zone: undefined, source: 'process' };
  }
  const named = (await readFile(underRoot(root, '/etc/timezone'), 'utf8').catch(() => ''))
    .split('\n')[0]!
    .trim();
  if (isTimeZoneName(named)) return { zone: named, source: '/etc/timezone' };
  const data = await readFile(localtime).catch(() => Buffer.alloc(0));
  const dirs = [...new Set([underRoot(root, '/usr/share/zoneinfo'), '/usr/share/zoneinfo'])];
  const matched = await matchZoneFile(data, dirs);
  if (matched !== undefined) {
    // A pod sees the host's /etc/localtime as a plain TZif file: say what it was matched to.
    log?.debug('/etc/localtime is a copy; named by its zoneinfo match', { timeZone: matched });
    return { zone: matched, source: 'zoneinfo match' };
  }
  log?.warn(
    '/etc/localtime is a copy, not a link, and matches no known zone; maintenance windows use the process time zone; set time_zone=',
    { code: 'TIME_ZONE_UNKNOWN', timeZone: processTimeZone() },
  );
  return { zone: undefined, source: 'process' };
}
