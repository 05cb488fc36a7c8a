/**
 * The publisher's index of one image (docs/delta.md "Publishing"): the image cut into
 * pieces (./cut.ts, parameters chosen by `detectCutParams`), and for each earlier
 * release given as a base, a patch pack (./patch-make.ts) and its table. The image
 * itself is not touched: what is signed and served stays byte for byte what it was,
 * and agents that do not know the index ignore it.
 */
import { readFile } from 'node:fs/promises';
import { cutImage, detectCutParams } from './cut.js';
import { encodeIndex, type DeltaIndex, type PatchBase } from './index-format.js';
import { makePatches } from './patch-make.js';

export interface IndexBase {
  version: string;
  /** The base release's image file (the same image name, an earlier version). */
  path: string;
}

export interface BuiltIndex {
  index: DeltaIndex;
  bytes: Buffer;
  packs: { file: string; bytes: Buffer; version: string; unpatched: number }[];
}

/** The pack of `image` patched from the base image whose SHA-256 starts with `prefix`. */
function packFileName(image: string, baseSha256: string): string {
  return `${image}.from-${baseSha256.slice(0, 16)}.patch`;
}

/**
 * The index of the image at `path` (published under the file name `file`), with patch
 * packs from each base. A base identical to the image, or one that shares its
 * cut, gets no pack.
 */
export async function buildImageIndex(
  path: string,
  file: string,
  bases: readonly IndexBase[],
  options: { avgLog2?: number; patchLevel?: number } = {},
): Promise<BuiltIndex> {
  const params = await detectCutParams(path, options.avgLog2);
  const cut = await cutImage(path, params);
  const packs: BuiltIndex['packs'] = [];
  const patchBases: PatchBase[] = [];
  const rebuildable = cut.pieces.some(
    (p) => p.kind === 'raw' || (p.kind === 'unit' && params.level > 0),
  );
  if (rebuildable && bases.length > 0) {
    const image = await readFile(path);
    for (const base of bases) {
      // Cut with the new image's parameters: how the device will cut the base it runs.
      const baseCut = await cutImage(base.path, params);
      if (baseCut.imageSha256 === cut.imageSha256) continue;
      const made = await makePatches(
        { image, index: cut },
        { image: await readFile(base.path), index: baseCut },
        {
          packFile: packFileName(file, baseCut.imageSha256),
          version: base.version,
          ...(options.patchLevel === undefined ? {} : { level: options.patchLevel }),
        },
      );
      if (made.base.entries.length === 0) continue;
      patchBases.push(made.base);
      packs.push({
        file: made.base.pack.file,
        bytes: made.pack,
        version: base.version,
        unpatched: made.unpatched,
      });
    }
  }
  const index: DeltaIndex = { ...cut, bases: patchBases };
  return { index, bytes: encodeIndex(index), packs };
}
