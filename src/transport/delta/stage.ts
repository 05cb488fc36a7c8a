/**
 * Staging one image by delta (docs/delta.md "On the device"), and the fall back to one
 * full download when the delta cannot be trusted to finish:
 *
 *   1. the index, pinned by the signed metadata (SHA-256 and size), fetched once and
 *      cached by its hash (`check` may have fetched it already);
 *   2. what the device holds: each seed image (the running slot's, the passive slot's
 *      old one) as the cache knows it, or cut once with the index's parameters;
 *   3. the plan (./plan.ts); the patch pack of the base the device runs, pinned by the
 *      index; a partial file of an earlier attempt, checked piece by piece;
 *   4. the image written piece by piece (./assemble.ts), then today's end: the whole
 *      file's SHA-256 and signature, fsync, rename, read-back.
 *
 * Falls back to `full()` (logged with the reason, and counted by the caller) when the
 * index is missing, does not match its pin or does not parse, when the server ignores
 * Range or answers other bytes than asked, when a fetched piece or the whole result does
 * not match. A kill or a network failure is not a reason to give up the delta: the
 * partial file is kept and the next run resumes it.
 */
import { constants } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { OperationError, toKubesoloError, type KubesoloError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ImageIndexRef } from '../../metadata/model.js';
import { TransportCode, poisonsPartial, redactUrl } from '../errors.js';
import { downloadToFile } from '../download/download.js';
import { finish } from '../download/finish.js';
import { readControlText } from '../../fs/control-file.js';
import { atomicWriteFile } from '../../fs/atomic.js';
import { keptFromEarlierRun } from '../download/resume.js';
import { Transfer, type DownloadLimits, type DownloadResult } from '../download/transfer.js';
import { assemble, type OpenSeed } from './assemble.js';
import { IndexCache } from './cache.js';
import { cutImage } from './cut.js';
import { decodeIndex, type DeltaIndex } from './index-format.js';
import { planDelta, type DeltaPlan, type SeedImage } from './plan.js';
import type { RangeContext } from './ranges.js';
import { createHash } from 'node:crypto';

/** An image the device holds: where it is now, and the stable name the cache knows it by. */
export interface SeedFile {
  label: string;
  /** e.g. `A/initramfs`: the slot and the image, not the mount point. */
  key: string;
  path: string;
}

/** What the agent gives a source so that it can stage by delta. */
export interface DeltaOptions {
  cache: IndexCache;
  seeds: SeedFile[];
  /** The cache key the staged image will have once installed (`B/initramfs`). */
  targetKey: string;
}

/** How an image was staged, for logs, `apply --json` and the metrics. */
export interface DeltaReport {
  /** `delta`: pieces from seeds, patches and ranges; `full`: one download of the image. */
  mode: 'delta' | 'full';
  /** Why a delta was not used or was given up (a reason code). */
  fallback?: string;
  /** Bytes moved over the network, by kind (bodies only). */
  indexBytes: number;
  packBytes: number;
  rangeBytes: number;
  /** Bytes of the image taken from seeds and rebuilt from patches. */
  reusedBytes: number;
  patchedBytes: number;
  requests: number;
  /** Pieces fetched after all: a seed's bytes had changed (bit rot), or a patch did not rebuild. */
  repairedPieces: number;
}

export interface DeltaStageInput {
  url: string;
  sha256: string;
  size: number;
  index: ImageIndexRef;
  dest: string;
  stagingDir: string;
  dispatcher: Dispatcher;
  limits: DownloadLimits;
  log: Logger;
  signature?: DownloadOptionsSignature;
  readBack?: boolean;
  signal?: AbortSignal;
  onProgress?: (received: number, total: number | undefined) => void;
  headers?: Record<string, string>;
  delta: DeltaOptions;
}

type DownloadOptionsSignature = NonNullable<ConstructorParameters<typeof Transfer>[0]['signature']>;

/** Reasons a delta is given up for a full download (docs/delta.md "Falling back"). */
const FALLBACK_CODES = new Set([
  'DELTA_INDEX_INVALID',
  'DELTA_RANGE_UNSUPPORTED',
  'DELTA_RANGE_MISMATCH',
  'DELTA_PIECE_MISMATCH',
  TransportCode.HASH_MISMATCH,
  TransportCode.SIZE_MISMATCH,
  TransportCode.TOO_LARGE,
  TransportCode.SIGNATURE_INVALID,
  TransportCode.HTTP_STATUS,
]);

function isFallback(err: KubesoloError): boolean {
  return FALLBACK_CODES.has(err.code);
}

interface DeltaSidecar {
  url: string;
  sha256: string;
  size: number;
  index: string;
}

const sha256Of = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The pinned index: from the cache by its hash, else fetched (bounded, checked, resumable). */
async function fetchIndex(
  input: Pick<
    DeltaStageInput,
    'index' | 'stagingDir' | 'dispatcher' | 'limits' | 'log' | 'signal' | 'headers'
  > & {
    cache: IndexCache;
    file: string;
  },
): Promise<{ bytes: Buffer; fetched: number }> {
  const cached = await input.cache.pinned(input.index.sha256, input.index.size);
  if (cached !== undefined) return { bytes: cached, fetched: 0 };
  const result = await downloadToFile({
    url: input.index.url,
    dest: join(input.stagingDir, `${input.file}.index`),
    dispatcher: input.dispatcher,
    expectedSha256: input.index.sha256,
    expectedSize: input.index.size,
    limits: input.limits,
    log: input.log,
    ...(input.headers ? { headers: input.headers } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
  });
  const bytes = await readFile(result.path);
  await input.cache.savePinned(bytes).catch(() => undefined);
  await rm(result.path, { force: true });
  await rm(`${result.path}.verified.json`, { force: true });
  return { bytes, fetched: result.bytesFetched };
}

/** The seeds' indexes: cached, else (unless `cachedOnly`) cut once and remembered. */
export async function seedIndexes(
  index: DeltaIndex,
  options: DeltaOptions,
  log: Logger,
  cachedOnly: boolean,
  signal?: AbortSignal,
): Promise<SeedImage[]> {
  const out: SeedImage[] = [];
  for (const seed of options.seeds) {
    try {
      const sha = await options.cache.identify(seed.key, seed.path);
      let seedIndex =
        sha === undefined ? undefined : await options.cache.imageIndex(sha, index.params);
      if (seedIndex === undefined && !cachedOnly) {
        log.info('indexing an image the device holds (once; cached for later updates)', {
          seed: seed.label,
          path: seed.path,
        });
        seedIndex = await cutImage(seed.path, index.params, signal);
        await options.cache.saveImageIndex(seedIndex);
        await options.cache.rememberFile(seed.key, seed.path, seedIndex.imageSha256);
      }
      if (seedIndex !== undefined)
        out.push({ label: seed.label, path: seed.path, index: seedIndex });
    } catch (err) {
      signal?.throwIfAborted();
      // A seed that cannot be read only means fewer bytes to reuse.
      log.info('an image the device holds cannot be used', {
        seed: seed.label,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return out;
}

async function openSeeds(seeds: SeedImage[]): Promise<OpenSeed[]> {
  const out: OpenSeed[] = [];
  for (const s of seeds) {
    const handle = await open(s.path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(
      () => undefined,
    );
    if (handle !== undefined) out.push({ label: s.label, handle, index: s.index });
  }
  return out;
}

/**
 * The pieces of an earlier attempt's partial file that are already right: its prefix
 * up to the first piece that does not match the index (the rest is cut off). Fed to
 * the hashers and the read-back like bytes just written.
 */
async function resumePrefix(t: Transfer, index: DeltaIndex, sidecar: string): Promise<number> {
  const want: DeltaSidecar = {
    url: t.url,
    sha256: index.imageSha256,
    size: index.imageSize,
    index: '',
  };
  let saved: Partial<DeltaSidecar> | undefined;
  for (const path of [sidecar, t.sidecar]) {
    try {
      const v = JSON.parse(
        await readControlText(path, { maxBytes: 64 * 1024, noFollow: true }),
      ) as Partial<DeltaSidecar>;
      if (v.url === want.url && v.sha256 === want.sha256 && (v.size ?? want.size) === want.size)
        saved = v;
    } catch {
      // no such record
    }
    if (saved !== undefined) break;
  }
  if (saved === undefined) {
    await t.discardPartial();
    t.handle = await t.openPart('w+');
    await t.newReader();
    return 0;
  }
  t.handle = await t.openPart('r+');
  const size = (await t.handle.stat()).size;
  let piece = 0;
  for (; piece < index.pieces.length; piece++) {
    const p = index.pieces[piece]!;
    if (p.offset + p.length > size) break;
    const buf = Buffer.allocUnsafe(p.length);
    const { bytesRead } = await t.handle.read(buf, 0, p.length, p.offset);
    if (bytesRead !== p.length || sha256Of(buf) !== p.sha256) break;
    t.sha.update(buf);
    if (t.ed?.update(buf)) await t.ed.ready();
  }
  const prefix =
    piece === 0 ? 0 : index.pieces[piece - 1]!.offset + index.pieces[piece - 1]!.length;
  await t.handle.truncate(prefix);
  await t.handle.sync();
  t.offset = prefix;
  t.resumedFrom = prefix;
  await t.newReader();
  t.reader?.advance(prefix);
  if (prefix > 0)
    t.log.info('resuming a delta from its partial file', {
      url: t.redactedUrl,
      from: prefix,
      piece,
    });
  return piece;
}

export interface DeltaStaged extends DownloadResult {
  delta: DeltaReport;
}

/** A delta given up for one full download, with the reason (a code of FALLBACK_CODES). */
class GiveUp extends Error {
  constructor(
    readonly reason: string,
    readonly error?: KubesoloError,
  ) {
    super(reason);
  }
}

/** `step`, with the failures that are reasons to fall back turned into GiveUp. */
async function orGiveUp<T>(step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (raw) {
    const err = toKubesoloError(raw);
    throw isFallback(err) ? new GiveUp(err.code, err) : err;
  }
}

function newTransfer(input: DeltaStageInput): Transfer {
  return new Transfer({
    url: input.url,
    dest: input.dest,
    dispatcher: input.dispatcher,
    expectedSha256: input.sha256,
    expectedSize: input.size,
    limits: input.limits,
    log: input.log,
    ...(input.signature ? { signature: input.signature } : {}),
    ...(input.readBack ? { readBack: true } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
    ...(input.onProgress ? { onProgress: input.onProgress } : {}),
  });
}

/**
 * The patch pack of the plan's base, pinned by the index (a verified download); when it
 * is not what the index pins, the plan without patches: their pieces are fetched.
 */
async function packFor(
  input: DeltaStageInput,
  index: DeltaIndex,
  seedImages: SeedImage[],
  signal: AbortSignal,
  report: DeltaReport,
): Promise<{ plan: DeltaPlan; pack: FileHandle | undefined }> {
  const plan = planDelta(index, seedImages);
  if (plan.base === undefined) return { plan, pack: undefined };
  try {
    const got = await downloadToFile({
      url: new URL(plan.base.pack.file, input.index.url).href,
      dest: join(input.stagingDir, `${baseName(input.dest)}.pack`),
      dispatcher: input.dispatcher,
      expectedSha256: plan.base.pack.sha256,
      expectedSize: plan.base.pack.size,
      limits: input.limits,
      log: input.log,
      ...(input.headers ? { headers: input.headers } : {}),
      signal,
    });
    report.packBytes = got.bytesFetched;
    report.requests += got.bytesFetched > 0 ? 1 : 0;
    return { plan, pack: await open(got.path, constants.O_RDONLY | constants.O_NOFOLLOW) };
  } catch (raw) {
    const err = toKubesoloError(raw);
    if (!isFallback(err)) throw err;
    input.log.warn('the patch pack cannot be used; fetching the pieces it would rebuild', {
      reason: err.code,
    });
    return { plan: planDelta({ ...index, bases: [] }, seedImages), pack: undefined };
  }
}

/**
 * Stage one image by delta, or by one full download (`full`) when the delta cannot be
 * trusted to finish. Errors that are not a reason to fall back (abort, network after
 * retries, the slot's disk) are thrown; a partial file is kept for the next run.
 */
export async function stageDelta(
  input: DeltaStageInput,
  full: () => Promise<DownloadResult>,
): Promise<DeltaStaged> {
  const report: DeltaReport = {
    mode: 'delta',
    indexBytes: 0,
    packBytes: 0,
    rangeBytes: 0,
    reusedBytes: 0,
    patchedBytes: 0,
    requests: 0,
    repairedPieces: 0,
  };
  const sidecar = `${input.dest}.delta.json`;
  const t = newTransfer(input);
  const external = input.signal;
  const onAbort = () =>
    t.run$.abort(
      new OperationError(TransportCode.ABORTED, 'download aborted', {
        details: { url: t.redactedUrl },
      }),
    );
  if (external?.aborted) onAbort();
  external?.addEventListener('abort', onAbort, { once: true });
  const opened: { seeds: OpenSeed[]; pack: FileHandle | undefined; index?: DeltaIndex } = {
    seeds: [],
    pack: undefined,
  };
  try {
    const kept = await keptFromEarlierRun(t);
    if (kept !== undefined) return { ...kept, delta: { ...report, reusedBytes: kept.size } };
    const result = await runDelta(input, t, report, sidecar, opened);
    await rm(sidecar, { force: true });
    await remember(input.delta, opened.index, result);
    return { ...result, delta: report };
  } catch (raw) {
    if (raw instanceof GiveUp) {
      input.log.warn('delta update not possible; downloading the whole image once', {
        reason: raw.reason,
        url: redactUrl(input.url),
        ...(raw.error ? { error: raw.error.message } : {}),
      });
      await t.discardPartial().catch(() => undefined);
      await rm(sidecar, { force: true });
      const result = await full();
      await remember(input.delta, opened.index, result);
      return { ...result, delta: { ...report, mode: 'full', fallback: raw.reason } };
    }
    const err = toKubesoloError(raw);
    // Keep a partial file worth resuming; drop one that cannot be trusted.
    if (poisonsPartial(err)) await t.discardPartial().catch(() => undefined);
    throw err;
  } finally {
    external?.removeEventListener('abort', onAbort);
    for (const s of opened.seeds) await s.handle.close().catch(() => undefined);
    await opened.pack?.close().catch(() => undefined);
    await t.ed?.close();
    await t.reader?.close();
    await t.handle?.close().catch(() => undefined);
    t.handle = undefined;
  }
}

/** The steps of a delta (the module comment's 1 to 4); GiveUp for a reason to fall back. */
async function runDelta(
  input: DeltaStageInput,
  t: Transfer,
  report: DeltaReport,
  sidecar: string,
  opened: { seeds: OpenSeed[]; pack: FileHandle | undefined; index?: DeltaIndex },
): Promise<DownloadResult> {
  const log = input.log;
  // 1. The index.
  const fetched = await orGiveUp(
    fetchIndex({ ...input, cache: input.delta.cache, file: baseName(input.dest) }),
  );
  report.indexBytes = fetched.fetched;
  report.requests += fetched.fetched > 0 ? 1 : 0;
  const index = await orGiveUp(
    Promise.resolve().then(() =>
      decodeIndex(fetched.bytes, { imageSha256: input.sha256, imageSize: input.size }),
    ),
  );
  opened.index = index;

  // 2.–3. What the device holds, the plan, the pack.
  const seedImages = await seedIndexes(index, input.delta, log, false, t.run$.signal);
  const { plan, pack } = await packFor(input, index, seedImages, t.run$.signal, report);
  opened.pack = pack;
  if (plan.pieces.held + plan.pieces.patched === 0) throw new GiveUp('DELTA_NOTHING_HELD');
  opened.seeds = await openSeeds(seedImages);
  log.info('delta plan', {
    url: redactUrl(input.url),
    pieces: index.pieces.length,
    held: plan.bytes.held,
    patched: plan.bytes.patched,
    fetch: plan.bytes.fetched,
    ranges: plan.ranges.length,
    pack: plan.bytes.pack,
    base: plan.base?.version,
  });

  // 3. A partial file from an earlier attempt, checked piece by piece.
  const startPiece = await resumePrefix(t, index, sidecar);
  const record = {
    url: t.url,
    sha256: index.imageSha256,
    size: index.imageSize,
    index: input.index.sha256,
  };
  await atomicWriteFile(sidecar, JSON.stringify(record) + '\n', { mode: 0o600 });

  // 4. The pieces, then today's end.
  const range: RangeContext = {
    url: input.url,
    imageSize: index.imageSize,
    dispatcher: input.dispatcher,
    limits: input.limits,
    log,
    signal: t.run$.signal,
    onBytes: (n) => {
      report.rangeBytes += n;
    },
    ...(input.headers ? { headers: input.headers } : {}),
  };
  const stats = await orGiveUp(
    assemble({ transfer: t, index, plan, seeds: opened.seeds, pack, range, startPiece }),
  );
  report.requests += plan.ranges.length + stats.heldRepaired + stats.rebuildRepaired;
  report.patchedBytes = stats.rebuiltBytes;
  report.repairedPieces = stats.heldRepaired + stats.rebuildRepaired;
  report.reusedBytes = stats.heldBytes + t.resumedFrom;
  t.fetched = report.indexBytes + report.packBytes + report.rangeBytes;
  const result = await orGiveUp(finish(t));
  log.info('delta staged', {
    url: redactUrl(input.url),
    fetched: t.fetched,
    reused: report.reusedBytes,
    patched: report.patchedBytes,
    repaired: report.repairedPieces,
  });
  return result;
}

/**
 * The staged image is what `index` describes: the next update finds its pieces by its
 * file (same inode once installed) without reading it. A cache that cannot be written
 * costs a read next time, nothing else.
 */
async function remember(
  delta: DeltaOptions,
  index: DeltaIndex | undefined,
  result: DownloadResult,
): Promise<void> {
  if (index === undefined || index.imageSha256 !== result.sha256) return;
  await delta.cache.saveImageIndex(index).catch(() => undefined);
  await delta.cache
    .rememberFile(delta.targetKey, result.path, result.sha256)
    .catch(() => undefined);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
