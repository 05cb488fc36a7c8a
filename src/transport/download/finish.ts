/**
 * The end of a download: the whole file's SHA-256 and signature against what was asked,
 * then, docs/design.md §2, fsync the data, rename `<dest>.part` to `<dest>`, fsync the
 * directory, and write the verified record a later run reuses it by. The read-back that
 * trailed the writes finishes its last range here.
 */
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VerificationError } from '../../errors.js';
import { fsyncDir } from '../../fs/atomic.js';
import type { ReadBack } from '../../fs/read-back.js';
import { signatureInvalidError } from '../../trust/refusal.js';
import { TransportCode } from '../errors.js';
import { writeVerifiedRecord } from './records.js';
import { stagingError, type DownloadResult, type Transfer } from './transfer.js';

export async function finish(t: Transfer): Promise<DownloadResult> {
  const url = t.redactedUrl;
  const sha256 = t.sha.digest('hex');
  const expected = t.options.expectedSha256?.toLowerCase();
  if (expected !== undefined && sha256 !== expected) {
    throw new VerificationError(
      TransportCode.HASH_MISMATCH,
      `SHA-256 of ${url} does not match the metadata`,
      { details: { url, expected, actual: sha256 } },
    );
  }
  const signatureVerified = t.ed !== undefined;
  if (t.ed !== undefined && !(await t.ed.verify())) {
    const sig = t.options.signature;
    throw signatureInvalidError(
      `the Ed25519 signature of ${url}`,
      sig ? [sig.publicKey, ...(sig.otherKeys ?? [])] : [],
      { url },
    );
  }
  let readBack: ReadBack | undefined;
  try {
    await t.handle?.sync();
    readBack = await finishReadBack(t);
    await t.handle?.close();
    t.handle = undefined;
    await rename(t.part, t.options.dest);
    await fsyncDir(dirname(t.options.dest));
    await writeVerifiedRecord(t.verifiedRecord, t.record(sha256));
    await rm(t.sidecar, { force: true });
  } catch (err) {
    throw stagingError(err, t.options.dest);
  }
  t.progress(true);
  return {
    path: t.options.dest,
    sha256,
    size: t.offset,
    bytesFetched: t.fetched,
    resumedFrom: t.resumedFrom,
    signatureVerified,
    attempts: t.attempts,
    ...(readBack ? { readBack } : {}),
  };
}

/**
 * The rest of the read-back, now that the whole file is synced. A failure is only
 * logged: without a result the slot's install reads the file back itself, and
 * reports what it finds there (SLOT_READ_FAILED, SLOT_VERIFY_FAILED).
 */
async function finishReadBack(t: Transfer): Promise<ReadBack | undefined> {
  if (t.reader === undefined) return undefined;
  try {
    return await t.reader.finish();
  } catch (err) {
    t.log.debug('read-back during the download failed; the install reads back instead', {
      url: t.redactedUrl,
      error: err instanceof Error ? err.message : String(err),
    });
    return undefined;
  }
}
