/**
 * `kubesolo-release verify` for delta indexes (docs/delta.md "Publishing"): the index
 * an image's metadata pins is fetched as a device fetches it (size and SHA-256
 * checked), and must be exactly the cut of the image as downloaded, recomputed here;
 * each patch pack it names must match its pin. A mismatch is DELTA_INDEX_MISMATCH: a
 * device would fall back to full downloads (or never find a patch).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { VerificationError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ImageIndexRef } from '../../metadata/model.js';
import { downloadToFile } from '../download/download.js';
import type { DownloadLimits } from '../download/transfer.js';
import { cutImage } from './cut.js';
import { decodeIndex, encodeIndex } from './index-format.js';

export interface VerifiedIndex {
  pieces: number;
  indexBytes: number;
  mode: string;
  bases: { version: string; imageSha256: string; patches: number; packBytes: number }[];
}

export async function verifyImageIndex(options: {
  imagePath: string;
  imageSha256: string;
  imageSize: number;
  index: ImageIndexRef;
  stagingDir: string;
  dispatcher: Dispatcher;
  limits?: Partial<DownloadLimits>;
  log: Logger;
}): Promise<VerifiedIndex> {
  const fetch = (url: string, dest: string, sha256: string, size: number) =>
    downloadToFile({
      url,
      dest: join(options.stagingDir, dest),
      dispatcher: options.dispatcher,
      expectedSha256: sha256,
      expectedSize: size,
      log: options.log,
      resume: false,
      ...(options.limits ? { limits: options.limits } : {}),
    });
  const got = await fetch(options.index.url, 'index', options.index.sha256, options.index.size);
  const bytes = await readFile(got.path);
  await rm(got.path, { force: true });
  const index = decodeIndex(bytes, {
    imageSha256: options.imageSha256,
    imageSize: options.imageSize,
  });
  const recomputed = await cutImage(options.imagePath, index.params);
  const pieces = (i: typeof index) => encodeIndex({ ...i, bases: [] });
  if (!pieces(recomputed).equals(pieces(index))) {
    const at = index.pieces.findIndex((p, k) => {
      const q = recomputed.pieces[k];
      return (
        q === undefined || q.sha256 !== p.sha256 || q.offset !== p.offset || q.length !== p.length
      );
    });
    throw new VerificationError(
      'DELTA_INDEX_MISMATCH',
      `the delta index at ${options.index.url} is not the cut of the image it pins (first difference: piece ${at})`,
      { details: { url: options.index.url, piece: at } },
    );
  }
  const bases: VerifiedIndex['bases'] = [];
  for (const base of index.bases) {
    const url = new URL(base.pack.file, options.index.url).href;
    const pack = await fetch(url, 'pack', base.pack.sha256, base.pack.size);
    await rm(pack.path, { force: true });
    bases.push({
      version: base.version,
      imageSha256: base.imageSha256,
      patches: base.entries.length,
      packBytes: base.pack.size,
    });
  }
  return { pieces: index.pieces.length, indexBytes: bytes.length, mode: index.params.mode, bases };
}
