/**
 * The device's index cache on the data partition (docs/delta.md "On the device"):
 *
 *   <dir>/<image sha256>.<cut>.idx   the pieces of an image cut with one set of
 *                                    parameters: the index the device installed it
 *                                    with, or its own cut of it (built once)
 *   <dir>/pinned-<sha256>.idx        an index fetched and checked against the metadata
 *                                    (check fetches it, apply reuses it by hash)
 *   <dir>/files.json                 which image each slot file is: its SHA-256, and
 *                                    the size, inode and mtime it had then
 *
 * Everything here is a hint: a seed's index only says where to look, and every byte
 * taken from a seed is checked against the new, pinned index before it is written. A
 * lost or damaged cache costs one read of the seed, never a wrong image.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile } from '../../fs/atomic.js';
import { readControlFile, readControlText } from '../../fs/control-file.js';
import {
  decodeIndex,
  encodeIndex,
  MAX_INDEX_BYTES,
  type CutParams,
  type DeltaIndex,
} from './index-format.js';

/** Index files kept besides those of the slots' images and the newest pinned one. */
const KEEP_FILES = 6;

export interface FileIdentity {
  sha256: string;
  size: number;
  ino: number;
  mtimeMs: number;
}

const cutTag = (p: CutParams): string => `${p.mode}-${p.avgLog2}-${p.level}`;

export class IndexCache {
  constructor(readonly dir: string) {}

  #imageFile(sha256: string, params: CutParams): string {
    return join(this.dir, `${sha256}.${cutTag(params)}.idx`);
  }

  async #readFiles(): Promise<Record<string, FileIdentity>> {
    try {
      const value: unknown = JSON.parse(
        await readControlText(join(this.dir, 'files.json'), {
          maxBytes: 64 * 1024,
          noFollow: true,
        }),
      );
      return typeof value === 'object' && value !== null
        ? (value as Record<string, FileIdentity>)
        : {};
    } catch {
      return {};
    }
  }

  /** The SHA-256 recorded for the file known as `key`, if the file at `path` is still that file. */
  async identify(key: string, path: string): Promise<string | undefined> {
    const known = (await this.#readFiles())[key];
    if (known === undefined || typeof known.sha256 !== 'string') return undefined;
    const st = await stat(path).catch(() => undefined);
    // mtime to the millisecond: what every file system and utimes(2) round-trip.
    if (
      st === undefined ||
      st.size !== known.size ||
      st.ino !== known.ino ||
      Math.abs(st.mtimeMs - known.mtimeMs) >= 1
    ) {
      return undefined;
    }
    return known.sha256;
  }

  /** Record that the file at `path` (known as `key`) is the image `sha256`. */
  async rememberFile(key: string, path: string, sha256: string): Promise<void> {
    const st = await stat(path);
    const files = await this.#readFiles();
    files[key] = { sha256, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
    await mkdir(this.dir, { recursive: true });
    await atomicWriteFile(join(this.dir, 'files.json'), JSON.stringify(files) + '\n');
  }

  /** The cut of image `sha256` with `params`, when one was stored (and still decodes). */
  async imageIndex(sha256: string, params: CutParams): Promise<DeltaIndex | undefined> {
    try {
      const bytes = await readControlFile(this.#imageFile(sha256, params), {
        maxBytes: MAX_INDEX_BYTES,
        noFollow: true,
      });
      const index = decodeIndex(bytes, { imageSha256: sha256 });
      return cutTag(index.params) === cutTag(params) ? index : undefined;
    } catch {
      return undefined;
    }
  }

  async saveImageIndex(index: DeltaIndex): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Only the pieces: patch tables describe another image's past, not this image.
    const bytes = encodeIndex({ ...index, bases: [] });
    await atomicWriteFile(this.#imageFile(index.imageSha256, index.params), bytes);
    await this.#prune();
  }

  /** An index fetched earlier whose bytes still hash to `sha256`. */
  async pinned(sha256: string, size: number): Promise<Buffer | undefined> {
    try {
      const bytes = await readControlFile(join(this.dir, `pinned-${sha256}.idx`), {
        maxBytes: MAX_INDEX_BYTES,
        noFollow: true,
      });
      const ok =
        bytes.length === size && createHash('sha256').update(bytes).digest('hex') === sha256;
      return ok ? Buffer.from(bytes) : undefined;
    } catch {
      return undefined;
    }
  }

  async savePinned(bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await atomicWriteFile(join(this.dir, `pinned-${sha256}.idx`), bytes);
    await this.#prune();
  }

  /** Keep the slots' images' indexes and the newest others; the cache never grows unbounded. */
  async #prune(): Promise<void> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) =>
      n.endsWith('.idx'),
    );
    const files = await this.#readFiles();
    const inUse = new Set(Object.values(files).map((f) => f.sha256));
    const others: { name: string; mtime: number }[] = [];
    for (const name of names) {
      if (inUse.has(name.split('.')[0]!)) continue;
      const st = await stat(join(this.dir, name)).catch(() => undefined);
      if (st !== undefined) others.push({ name, mtime: st.mtimeMs });
    }
    others.sort((a, b) => b.mtime - a.mtime);
    for (const old of others.slice(KEEP_FILES)) await rm(join(this.dir, old.name), { force: true });
  }
}
