/**
 * Directory trees in tests. A fresh temporary directory per test or per describe,
 * removed after (useTempDir, tempDir). A whole tree as a comparable value
 * (treeSnapshot): every entry (no link followed) with its type, permission bits and,
 * for a file, the SHA-256 of its bytes. Two snapshots are equal when nothing under the
 * directory was added, removed, replaced or rewritten with other bytes, which is what
 * "slot B untouched" means.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, type TestContext } from 'node:test';

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

/** A temporary directory of a describe block: `dir` is valid inside its tests and hooks. */
export interface TempDir {
  readonly dir: string;
  /** A path inside the directory. */
  path(...parts: string[]): string;
}

/**
 * A fresh temporary directory for each test of the enclosing describe (`scope` 'each',
 * the default) or one for all of them ('all'), removed after. Call it before the hooks
 * that use it: node:test runs hooks in the order they were registered.
 */
export function useTempDir(prefix: string, scope: 'each' | 'all' = 'each'): TempDir {
  let current: string | undefined;
  const make = async () => {
    current = await mkdtemp(join(tmpdir(), prefix));
  };
  const remove = async () => {
    if (current) await rm(current, { recursive: true, force: true });
    current = undefined;
  };
  if (scope === 'each') {
    beforeEach(make);
    afterEach(remove);
  } else {
    before(make);
    after(remove);
  }
  return {
    get dir() {
      if (!current) throw new Error(`useTempDir(${prefix}): used outside a test`);
      return current;
    },
    path: (...parts) => {
      if (!current) throw new Error(`useTempDir(${prefix}): used outside a test`);
      return join(current, ...parts);
    },
  };
}

/** A temporary directory for one test, removed when the test ends. */
export async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
