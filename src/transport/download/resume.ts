/**
 * Resume negotiation: what a download can take over from an earlier run before it asks
 * the server for anything (a verified file whose record matches, a partial file whose
 * sidecar says it is the same content), and how it asks for the rest (Range and
 * If-Range, RFC 9110 §14.2 and §13.1.5) and tells that the answer continues it.
 */
import { rm } from 'node:fs/promises';
import { regularFileSize } from '../../fs/no-follow.js';
import { headerValue, type OpenResponse } from '../http.js';
import { ifRangeValue, readResumeState, readVerifiedRecord } from './records.js';
import type { DownloadResult, Transfer } from './transfer.js';

/**
 * `<dest>` from an earlier run that verified it (its record matches what is asked
 * now: URL, digest, size, and the same signature and key when one is required):
 * verified work is never fetched twice. The file is not hashed again here; the slot's
 * read-back after install does that from the medium. Anything else at `<dest>` is
 * removed (a link there only as a link, never followed).
 */
export async function keptFromEarlierRun(t: Transfer): Promise<DownloadResult | undefined> {
  const dest = t.options.dest;
  const expected = t.options.expectedSha256?.toLowerCase();
  const saved = t.options.resume === false ? undefined : await readVerifiedRecord(t.verifiedRecord);
  const size = (await regularFileSize(dest).catch(() => undefined)) ?? -1;
  const want = expected === undefined ? undefined : t.record(expected);
  const matches =
    saved !== undefined &&
    want !== undefined &&
    saved.url === want.url &&
    saved.sha256 === want.sha256 &&
    saved.size === size &&
    (t.options.expectedSize === undefined || size === t.options.expectedSize) &&
    saved.signature === want.signature &&
    saved.publicKey === want.publicKey;
  if (!matches) {
    await rm(t.verifiedRecord, { force: true });
    await rm(dest, { force: true });
    return undefined;
  }
  t.log.info('verified download kept from an earlier run', { url: t.redactedUrl, bytes: size });
  t.offset = size;
  t.progress(true);
  return {
    path: dest,
    sha256: saved.sha256,
    size,
    bytesFetched: 0,
    resumedFrom: size,
    signatureVerified: saved.signature !== undefined,
    attempts: 0,
  };
}

/** Pick up `<dest>.part` from an earlier run if its sidecar says it is the same content. */
export async function pickUpPartial(t: Transfer): Promise<void> {
  const saved = t.options.resume === false ? undefined : await readResumeState(t.sidecar);
  const size = (await regularFileSize(t.part).catch(() => undefined)) ?? -1;
  const matches =
    saved !== undefined &&
    saved.url === t.url &&
    saved.sha256 === (t.options.expectedSha256?.toLowerCase() ?? null) &&
    saved.size === (t.options.expectedSize ?? null) &&
    size > 0 &&
    size <= t.limit;
  if (!matches) {
    await t.discardPartial();
    return;
  }
  t.validators = {
    ...(saved.etag ? { etag: saved.etag } : {}),
    ...(saved.lastModified ? { lastModified: saved.lastModified } : {}),
  };
  if (!t.canResume) {
    await t.discardPartial();
    return;
  }
  // The final digest must cover the whole file, so re-hash the bytes already there;
  // the read-back reads them from the medium too (flushing what is still dirty).
  t.handle = await t.openPart('r+');
  await t.newReader();
  t.reader?.advance(size);
  // Read through the handle just opened (O_NOFOLLOW), not the path again.
  const stream = t.handle.createReadStream({
    start: 0,
    end: size - 1,
    highWaterMark: 1024 * 1024,
    autoClose: false,
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    t.sha.update(chunk);
    if (t.ed?.update(chunk)) await t.ed.ready();
  }
  t.offset = size;
  t.resumedFrom = size;
  t.log.info('resuming partial download', { url: t.redactedUrl, from: size });
}

/** Request headers for the next attempt: the rest of the partial file, if there is one. */
export function rangeHeaders(t: Transfer): Record<string, string> {
  const headers: Record<string, string> = {
    'accept-encoding': 'identity',
    ...(t.options.headers ?? {}),
  };
  if (t.offset > 0) {
    headers.range = `bytes=${t.offset}-`;
    const ifRange = ifRangeValue(t.validators);
    if (ifRange !== undefined) headers['if-range'] = ifRange;
  }
  return headers;
}

/** A 206 continues our partial file only if it starts at our offset and has our ETag. */
export function continuesPartial(t: Transfer, response: OpenResponse): boolean {
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(
    headerValue(response.headers, 'content-range') ?? '',
  );
  if (range === null || Number(range[1]) !== t.offset) return false;
  const etag = headerValue(response.headers, 'etag');
  if (t.validators.etag !== undefined && etag !== undefined && etag !== t.validators.etag)
    return false;
  const total = range[3] === '*' ? undefined : Number(range[3]);
  const expected = t.options.expectedSize;
  return total === undefined || expected === undefined || total === expected;
}
