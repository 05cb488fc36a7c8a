/**
 * downloadToFile: the generic, bounded, resumable download primitive. The HTTP update
 * source and the OCI registry client both use it.
 *
 * One pass over the network bytes does everything: SHA-256, the optional streaming
 * Ed25519 verification (RFC 8032 §5.1.7, see src/crypto/ed25519.ts) and batched writes
 * to `<dest>.part` (./receive.ts). With `readBack`, a worker thread reads the file back
 * from the medium behind the writes (src/fs/read-back.ts). Only a file whose size,
 * digest and signature all check out is renamed to `<dest>` (./finish.ts). Failures
 * leave the staging directory clean or resumable: verification failures delete the
 * partial file (docs/design.md §2: never fill a partition with garbage); network
 * failures keep it with a sidecar so the next attempt or run continues with Range +
 * If-Range (./resume.ts).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KubesoloError, OperationError, toKubesoloError } from '../../errors.js';
import { TransportCode, poisonsPartial, redactUrl } from '../errors.js';
import { discardBody, httpStatusError, openRequest, type OpenResponse } from '../http.js';
import { withRetry } from '../retry.js';
import { finish } from './finish.js';
import { receive } from './receive.js';
import { continuesPartial, keptFromEarlierRun, pickUpPartial, rangeHeaders } from './resume.js';
import { stagingError, Transfer, type DownloadOptions, type DownloadResult } from './transfer.js';

/** Download `url` to `dest` with limits, hashing, optional signature check and resume. */
export async function downloadToFile(options: DownloadOptions): Promise<DownloadResult> {
  const t = new Transfer(options);
  const external = options.signal;
  const onAbort = (): void =>
    t.run$.abort(
      new OperationError(TransportCode.ABORTED, 'download aborted', {
        details: { url: t.redactedUrl },
      }),
    );
  if (external?.aborted) onAbort();
  external?.addEventListener('abort', onAbort, { once: true });
  const deadline = setTimeout(() => {
    t.run$.abort(
      new OperationError(
        TransportCode.TIMEOUT,
        `download did not finish within ${t.limits.deadlineMs} ms`,
        { details: { url: t.redactedUrl, phase: 'deadline', limitMs: t.limits.deadlineMs } },
      ),
    );
  }, t.limits.deadlineMs);
  try {
    // A download directory that cannot be made is a staging I/O failure, not UNEXPECTED.
    await mkdir(dirname(options.dest), { recursive: true }).catch((e: unknown) => {
      throw stagingError(e, dirname(options.dest));
    });
    const kept = await keptFromEarlierRun(t);
    if (kept !== undefined) return kept;
    await pickUpPartial(t);
    await withRetry((n) => attempt(t, n), t.limits.retry, t.log, t.run$.signal);
    return await finish(t);
  } catch (raw) {
    const err = toKubesoloError(raw);
    await cleanUp(t, err);
    throw err;
  } finally {
    clearTimeout(deadline);
    external?.removeEventListener('abort', onAbort);
    await t.ed?.close();
    await t.reader?.close();
    await t.handle?.close().catch(() => undefined);
    t.handle = undefined;
  }
}

/** One request for what is still missing, and its body received. */
async function attempt(t: Transfer, n: number): Promise<void> {
  t.attempts = n;
  if (t.options.expectedSize !== undefined && t.offset === t.options.expectedSize) return;
  if (t.offset > 0 && !t.canResume) await t.restart('no validator for If-Range');
  const attempt$ = new AbortController();
  const signal = AbortSignal.any([t.run$.signal, attempt$.signal]);
  let response = await request(t, signal);
  if (t.offset > 0 && response.statusCode === 416) {
    discardBody(response.body);
    await t.restart('416 Range Not Satisfiable');
    response = await request(t, signal);
  }
  if (t.offset > 0 && response.statusCode === 206 && !continuesPartial(t, response)) {
    discardBody(response.body);
    await t.restart('Content-Range or ETag does not match the partial file');
    response = await request(t, signal);
  }
  if (t.offset > 0 && response.statusCode === 200) {
    // RFC 9110 §13.1.5: a 200 answer to If-Range means the representation changed
    // (or the server ignores Range); its body is the whole file, so use it from 0.
    await t.restart('server sent the whole file (200) instead of the range');
  }
  const expectedStatus = t.offset > 0 ? 206 : 200;
  if (response.statusCode !== expectedStatus) {
    discardBody(response.body);
    throw httpStatusError(response);
  }
  await receive(t, response, signal, attempt$);
}

function request(t: Transfer, signal: AbortSignal): Promise<OpenResponse> {
  return openRequest(t.url, {
    dispatcher: t.options.dispatcher,
    headers: rangeHeaders(t),
    maxRedirects: t.limits.maxRedirects,
    headersTimeoutMs: t.limits.headersTimeoutMs,
    bodyTimeoutMs: t.limits.idleTimeoutMs,
    signal,
  });
}

/** Delete what cannot be trusted or resumed; keep a resumable partial file. */
async function cleanUp(t: Transfer, err: KubesoloError): Promise<void> {
  const keep = !poisonsPartial(err) && t.offset > 0 && t.canResume;
  if (keep) {
    t.log.info('partial download kept for resume', {
      url: redactUrl(t.url),
      bytes: t.offset,
      reason: err.code,
    });
    return;
  }
  await t.discardPartial().catch(() => undefined);
}
