/**
 * What `check` says a device would download for one image (docs/delta.md "Seeing it"):
 * the pinned index (fetched, checked, kept in the cache for apply when the cache
 * exists), the seeds the cache already knows (never a read of a whole seed), the plan.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { VerificationError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ImageIndexRef } from '../../metadata/model.js';
import { fetchBytes } from '../http.js';
import { TransportCode } from '../errors.js';
import type { DownloadLimits } from '../download/transfer.js';
import { decodeIndex } from './index-format.js';
import { planDelta } from './plan.js';
import { seedIndexes, type DeltaOptions } from './stage.js';

export interface DownloadEstimate {
  /** `delta`: pieces the device lacks; `full`: the whole image (and why). */
  mode: 'delta' | 'full';
  /** Bytes a device would fetch (bodies: index, pack, ranges; or the image). */
  bytes: number;
  imageBytes: number;
  /** Bytes of the image it would take from its own images or rebuild. */
  reusedBytes: number;
  /** Why not a delta: NO_DELTA_INDEX, DELTA_SEED_NOT_INDEXED, or a fallback reason code. */
  reason?: string;
}

export async function estimateDownload(input: {
  imageSha256: string;
  imageSize: number;
  index: ImageIndexRef | undefined;
  delta: DeltaOptions;
  dispatcher: Dispatcher;
  limits: DownloadLimits;
  log: Logger;
  signal?: AbortSignal;
}): Promise<DownloadEstimate> {
  const full = (reason: string): DownloadEstimate => ({
    mode: 'full',
    bytes: input.imageSize,
    imageBytes: input.imageSize,
    reusedBytes: 0,
    reason,
  });
  if (input.index === undefined) return full('NO_DELTA_INDEX');
  const ref = input.index;
  let bytes = await input.delta.cache.pinned(ref.sha256, ref.size);
  let indexBytes = 0;
  if (bytes === undefined) {
    try {
      const got = Buffer.from(
        await fetchBytes(ref.url, {
          dispatcher: input.dispatcher,
          maxBytes: ref.size,
          headersTimeoutMs: input.limits.headersTimeoutMs,
          bodyTimeoutMs: input.limits.idleTimeoutMs,
          maxRedirects: input.limits.maxRedirects,
          ...(input.signal ? { signal: input.signal } : {}),
        }),
      );
      if (
        got.length !== ref.size ||
        createHash('sha256').update(got).digest('hex') !== ref.sha256
      ) {
        throw new VerificationError(
          TransportCode.HASH_MISMATCH,
          'the delta index does not match its pin',
        );
      }
      bytes = got;
      indexBytes = got.length;
      // Kept for apply only where an apply already made the cache: check creates nothing.
      if (await stat(input.delta.cache.dir).catch(() => undefined)) {
        await input.delta.cache.savePinned(got).catch(() => undefined);
      }
    } catch (err) {
      return full(err instanceof VerificationError ? err.code : 'DELTA_INDEX_UNAVAILABLE');
    }
  }
  let index;
  try {
    index = decodeIndex(bytes, { imageSha256: input.imageSha256, imageSize: input.imageSize });
  } catch (err) {
    return full(err instanceof VerificationError ? err.code : 'DELTA_INDEX_INVALID');
  }
  const seeds = await seedIndexes(index, input.delta, input.log, true, input.signal);
  if (seeds.length === 0) return full('DELTA_SEED_NOT_INDEXED');
  const plan = planDelta(index, seeds);
  if (plan.pieces.held + plan.pieces.patched === 0) return full('DELTA_NOTHING_HELD');
  return {
    mode: 'delta',
    bytes: indexBytes + plan.bytes.pack + plan.bytes.fetched,
    imageBytes: input.imageSize,
    reusedBytes: plan.bytes.held + plan.bytes.patched,
  };
}
