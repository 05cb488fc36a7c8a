/**
 * Merge new values into update.conf text, line by line, so everything else in the
 * file survives: comments, keys the block does not set, and keys this agent does not
 * know (a newer agent's). Decision (docs/cloud-init.md): the `updates:` block wins for
 * the keys it sets; every other line is kept as it is.
 */
import { formatConfig } from '../config/file.js';
import type { UpdateConfig } from '../config/types.js';

/** The key of an update.conf line, or undefined for comments, blanks and junk. */
function lineKey(line: string): string | undefined {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return undefined;
  const eq = t.indexOf('=');
  return eq <= 0 ? undefined : t.slice(0, eq).trim();
}

/**
 * Return `existing` with each key of `values` set: the last line of that key is
 * replaced in place and earlier duplicates are dropped (so the result has one
 * authoritative line); keys not present are appended. `formatConfig` renders each
 * value, so it is validated and quoted exactly as the config writer does.
 */
export function mergeConfigText(existing: string, values: UpdateConfig, header: string): string {
  const rendered = new Map<string, string>();
  for (const line of formatConfig(values).split('\n')) {
    const key = lineKey(line);
    if (key !== undefined) rendered.set(key, line);
  }
  const lines = existing === '' ? [] : existing.replace(/\r?\n$/, '').split(/\r?\n/);
  const lastIndex = new Map<string, number>();
  lines.forEach((l, i) => {
    const k = lineKey(l);
    if (k !== undefined && rendered.has(k)) lastIndex.set(k, i);
  });
  const out: string[] = [];
  lines.forEach((l, i) => {
    const k = lineKey(l);
    if (k === undefined || !rendered.has(k)) out.push(l);
    else if (lastIndex.get(k) === i) out.push(rendered.get(k)!);
  });
  const missing = [...rendered.entries()].filter(([k]) => !lastIndex.has(k));
  if (missing.length > 0) {
    if (out.length === 0) out.push(header);
    for (const [, l] of missing) out.push(l);
  }
  return out.map((l) => l + '\n').join('');
}
