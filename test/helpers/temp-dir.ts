/**
 * A temporary directory for the enclosing describe: made before its first test, removed
 * with everything in it after its last. Call the returned function for its path.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

export function useTempDir(prefix: string): () => string {
  let path = '';
  before(async () => {
    path = await mkdtemp(join(tmpdir(), prefix));
  });
  after(() => rm(path, { recursive: true, force: true }));
  return () => path;
}
