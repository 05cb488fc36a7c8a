/**
 * A whole directory tree as a comparable value: every entry (no link followed) with its
 * type, permission bits and, for a file, the SHA-256 of its bytes. Two snapshots are
 * equal when nothing under the directory was added, removed, replaced or rewritten with
 * other bytes, which is what "slot B untouched" means.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** `skip`: names of top-level entries left out (a slot's download area). */
export function treeSnapshot(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return { '.': 'absent' };
  const visit = (rel: string) => {
    const path = join(dir, rel);
    const st = lstatSync(path);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(path)}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${mode}`;
      for (const name of readdirSync(path).sort()) {
        if (rel === '.' && skip.includes(name)) continue;
        visit(rel === '.' ? name : join(rel, name));
      }
    } else if (st.isFile()) {
      out[rel] = `file ${mode} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    } else out[rel] = `special ${st.mode.toString(8)}`;
  };
  visit('.');
  return out;
}
