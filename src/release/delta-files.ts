/**
 * The delta files `publish` writes next to each image (docs/delta.md "Publishing"):
 * `<image>.index` (pinned in latest.json as `<prefix>_index_*`) and one patch pack
 * per earlier release kept in the release directory (`<image>.from-<sha>.patch`,
 * pinned by the index). Earlier releases are the version folders already in OUT,
 * newest first, older than the one being published.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions, versionProblem } from '../config/version.js';
import {
  buildImageIndex,
  type BuiltIndex,
  type IndexBase,
} from '../transport/delta/publish-index.js';

/** Earlier releases patched from by default: the two before (a device one or two releases behind). */
export const DEFAULT_DELTA_BASES = 2;

export interface DeltaPublishOptions {
  /** Write the index (default true). */
  index?: boolean;
  /** How many earlier releases get a patch pack (default DEFAULT_DELTA_BASES; 0: none). */
  bases?: number;
  /** zstd level of the patches (default 19). */
  patchLevel?: number;
}

/** The newest `count` versions in `outDir` older than `version` that hold `file`. */
async function earlierReleases(
  outDir: string,
  version: string,
  file: string,
  count: number,
): Promise<IndexBase[]> {
  if (count <= 0) return [];
  const names = await readdir(outDir).catch(() => [] as string[]);
  const found: IndexBase[] = [];
  for (const name of names) {
    if (name.startsWith('.') || versionProblem(name) !== undefined) continue;
    if (compareVersions(name, version) >= 0) continue;
    const path = join(outDir, name, file);
    const st = await stat(path).catch(() => undefined);
    if (st?.isFile()) found.push({ version: name, path });
  }
  found.sort((a, b) => compareVersions(b.version, a.version));
  return found.slice(0, count);
}

/** The index (and packs) of one image about to be published from `path`. */
export async function deltaFilesFor(
  path: string,
  file: string,
  outDir: string,
  version: string,
  options: DeltaPublishOptions,
): Promise<BuiltIndex> {
  const bases = await earlierReleases(outDir, version, file, options.bases ?? DEFAULT_DELTA_BASES);
  return buildImageIndex(path, file, bases, {
    ...(options.patchLevel === undefined ? {} : { patchLevel: options.patchLevel }),
  });
}
