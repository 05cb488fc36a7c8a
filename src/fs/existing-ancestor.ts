/**
 * The path itself if it exists, else its nearest existing ancestor. Free-space checks
 * statfs this instead of creating the directory first, so read-only commands
 * (`check`) never create anything; the file system that would hold the path is the
 * same one.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { errnoCode } from '../errors.js';

export async function existingAncestor(path: string): Promise<string> {
  let p = resolve(path);
  for (;;) {
    try {
      await stat(p);
      return p;
    } catch (err) {
      const parent = dirname(p);
      if ((errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') || parent === p) throw err;
      p = parent;
    }
  }
}
