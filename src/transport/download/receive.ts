/**
 * The receive loop of one attempt: one pass over the network bytes does everything:
 * SHA-256, the optional streaming Ed25519 check (RFC 8032 §5.1.7, on a worker
 * thread), and batched writes to the partial file that a read-back follows
 * (./batch-writer.ts). A server that says how long its answer is, and says something
 * else than the signed size, is refused before its body is read; a trickling one is
 * stopped by the rate guard.
 */
import { KubesoloError, OperationError } from '../../errors.js';
import { TransportCode, redactUrl, toTransportError } from '../errors.js';
import { discardBody, headerValue, type OpenResponse } from '../http.js';
import type { BatchWriter } from './batch-writer.js';
import { GarbagePacer } from './memory.js';
import { writeResumeState } from './records.js';
import { stagingError, type Transfer } from './transfer.js';

/** A fresh file (offset 0): remember what it is, so a later run can resume it. */
async function startFresh(t: Transfer, response: OpenResponse): Promise<void> {
  const etag = headerValue(response.headers, 'etag');
  const lastModified = headerValue(response.headers, 'last-modified');
  t.validators = { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
  t.handle ??= await t.openPart('w+');
  await t.handle.truncate(0);
  await t.newReader();
  await writeResumeState(t.sidecar, {
    url: t.url,
    sha256: t.options.expectedSha256?.toLowerCase() ?? null,
    size: t.options.expectedSize ?? null,
    ...t.validators,
  });
}

/** Refuse an answer whose declared length cannot be the signed size, unread. */
function checkDeclaredLength(t: Transfer, response: OpenResponse, url: string): number {
  const declared = Number(headerValue(response.headers, 'content-length') ?? NaN);
  if (Number.isFinite(declared) && t.offset + declared > t.limit) {
    discardBody(response.body);
    throw t.tooLarge(url, t.offset + declared);
  }
  const expectedSize = t.options.expectedSize;
  if (Number.isFinite(declared) && expectedSize !== undefined) {
    if (t.offset + declared !== expectedSize) {
      // A server that says how long its answer is, and says a different length than
      // the signed size, is serving something else: refuse before reading the body.
      discardBody(response.body);
      throw t.sizeMismatch(url, t.offset + declared);
    }
  }
  return declared;
}

export async function receive(
  t: Transfer,
  response: OpenResponse,
  signal: AbortSignal,
  attempt$: AbortController,
): Promise<void> {
  const url = redactUrl(response.url);
  if (t.offset === 0) await startFresh(t, response);
  const handle = t.handle ?? (t.handle = await t.openPart('r+'));
  const declared = checkDeclaredLength(t, response, url);
  const writer = t.newWriter(handle);
  const guard = startRateGuard(t, attempt$, url);
  let received = 0;
  try {
    received = await pumpBody(t, response, signal, writer, guard);
  } finally {
    clearInterval(guard.timer);
    // Everything hashed must be on disk, so the partial file stays resumable.
    await writer.flush().catch((err: unknown) => {
      throw stagingError(err, t.part);
    });
  }
  const expectedSize = t.options.expectedSize;
  if (!Number.isFinite(declared) && expectedSize !== undefined && t.offset < expectedSize) {
    // The body ended cleanly (chunked, no Content-Length): a complete answer that is
    // shorter than the signed size. A dropped connection is an error event instead.
    throw t.sizeMismatch(url, t.offset);
  }
  if (
    (Number.isFinite(declared) && received < declared) ||
    (expectedSize !== undefined && t.offset < expectedSize)
  ) {
    throw new OperationError(TransportCode.TRUNCATED, `body of ${url} ended early`, {
      details: {
        url,
        received: t.offset,
        expected: t.options.expectedSize ?? t.offset - received + declared,
      },
    });
  }
}

/**
 * The body, chunk by chunk, into the hashers and the writer; resolves with the bytes
 * received. Flowing mode ('data' events) rather than for-await: a chunk is handed over
 * as soon as undici parses it, so when the connection drops nothing already received
 * sits unread in the stream buffer (and lost to the resume), and the per-chunk cost is
 * one call instead of an async-iterator round trip. Backpressure: pause the body while
 * the writer has a full batch queued or the SHA-512 worker holds every slot.
 */
function pumpBody(
  t: Transfer,
  response: OpenResponse,
  signal: AbortSignal,
  writer: BatchWriter,
  guard: { bytes: number },
): Promise<number> {
  const url = redactUrl(response.url);
  const body = response.body;
  const pacer = new GarbagePacer();
  let received = 0;
  return new Promise<number>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      discardBody(body);
      reject(
        err instanceof KubesoloError ? err : toTransportError(err, response.url, signal.reason),
      );
    };
    body.on('data', (chunk: Buffer) => {
      if (failed) return;
      if (t.offset + chunk.length > t.limit) {
        // Cut off one byte past the limit: nothing beyond it is hashed or written.
        fail(t.tooLarge(url, t.offset + chunk.length));
        return;
      }
      t.sha.update(chunk);
      const verifierFull = t.ed?.update(chunk) ?? false;
      const writerFull = writer.enqueue(chunk);
      t.offset += chunk.length;
      t.fetched += chunk.length;
      received += chunk.length;
      guard.bytes = received;
      pacer.add(chunk.length);
      t.progress(false);
      if (writerFull || verifierFull) {
        body.pause();
        Promise.all([writer.ready(), t.ed?.ready()]).then(() => {
          if (!failed) body.resume();
        }, fail);
      }
    });
    let ended = false;
    body.on('error', fail);
    body.on('end', () => {
      ended = true;
      if (!failed) resolve(received);
    });
    // An abort can destroy the body while receive() was still opening the partial
    // file, before these listeners existed: its 'error' and 'close' are then already
    // gone, and waiting for 'end' would wait for ever (a SIGTERM between the headers
    // and the first body byte hung apply until a second signal).
    const closedEarly = (): void => {
      if (!ended) fail(body.errored ?? signal.reason ?? new Error('response body closed'));
    };
    body.on('close', closedEarly);
    if (body.destroyed) closedEarly();
  });
}

/**
 * Slow-retrieval guard: every quarter window, compare the bytes received in the last
 * `rateWindowMs` with the minimum rate. A trickling server that never goes silent
 * long enough for the idle timeout is stopped here (DOWNLOAD_TOO_SLOW).
 */
function startRateGuard(
  t: Transfer,
  attempt$: AbortController,
  url: string,
): { bytes: number; timer: NodeJS.Timeout } {
  const { minBytesPerSecond: min, rateWindowMs: window } = t.limits;
  const started = performance.now();
  const samples: { t: number; bytes: number }[] = [{ t: started, bytes: 0 }];
  const guard = {
    bytes: 0,
    timer: setInterval(
      () => {
        const now = performance.now();
        samples.push({ t: now, bytes: guard.bytes });
        // Keep the newest sample at or before the window start as the reference point.
        while (samples.length > 1 && (samples[1]?.t ?? now) <= now - window) samples.shift();
        const ref = samples[0];
        if (ref === undefined || now - ref.t < window) return;
        const rate = ((guard.bytes - ref.bytes) * 1000) / (now - ref.t);
        if (rate < min) {
          attempt$.abort(
            new OperationError(
              TransportCode.TOO_SLOW,
              `download of ${url} is slower than ${min} B/s`,
              {
                details: { url, rate: Math.round(rate), minBytesPerSecond: min, windowMs: window },
              },
            ),
          );
        }
      },
      Math.max(10, Math.floor(window / 4)),
    ),
  };
  if (min <= 0) clearInterval(guard.timer);
  guard.timer.unref();
  return guard;
}
