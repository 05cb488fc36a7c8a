/**
 * downloadToFile: the generic, bounded, resumable download primitive. The HTTP update
 * source and the OCI registry client both use it.
 *
 * One pass over the network bytes does everything: SHA-256, the optional streaming
 * Ed25519 verification (RFC 8032 §5.1.7, see src/crypto/ed25519.ts) and batched writes
 * to `<dest>.part`. With `readBack`, a worker thread reads the file back from the
 * medium behind the writes (src/slots/read-back.ts). Only a file whose size, digest
 * and signature all check out is
 * renamed to `<dest>`. Failures leave the staging directory clean or resumable:
 * verification failures delete the partial file (docs/design.md §2: never fill a partition
 * with garbage); network failures keep it with a sidecar so the next attempt or run
 * continues with Range + If-Range.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Dispatcher } from 'undici';
import {
  KubesoloError,
  OperationError,
  VerificationError,
  errnoCode,
  toKubesoloError,
} from '../errors.js';
import { fsyncDir } from '../fs/atomic.js';
import { O_NOFOLLOW, regularFileSize } from '../fs/no-follow.js';
import { silentLogger, type Logger } from '../log.js';
import type { OffThreadEd25519Verifier } from '../crypto/ed25519-offthread.js';
import { createKeySetVerifier } from '../crypto/key-set-verifier.js';
import { TrailingReadBack, type ReadBack } from '../slots/read-back.js';
import { BatchWriter, DEFAULT_BATCH_BYTES } from './batch-writer.js';
import { GarbagePacer } from './memory.js';
import { TransportCode, poisonsPartial, redactUrl, toTransportError } from './errors.js';
import {
  discardBody,
  headerValue,
  httpStatusError,
  openRequest,
  type OpenResponse,
} from './http.js';
import {
  ifRangeValue,
  readResumeState,
  readVerifiedRecord,
  writeResumeState,
  writeVerifiedRecord,
  type ResumeState,
  type VerifiedRecord,
} from './resume-state.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.js';

export interface DownloadLimits {
  /** Time to wait for response headers, per request (ms). */
  headersTimeoutMs: number;
  /** Longest silence while receiving the body (ms). */
  idleTimeoutMs: number;
  /** Overall deadline for the whole download including retries (ms). */
  deadlineMs: number;
  /** Slow-retrieval guard: minimum average rate over `rateWindowMs`; 0 disables it. */
  minBytesPerSecond: number;
  rateWindowMs: number;
  maxRedirects: number;
  /** Cap when no size is declared. A declared size always cuts off one byte past it. */
  maxBytes: number;
  retry: RetryPolicy;
}

export const DEFAULT_DOWNLOAD_LIMITS: DownloadLimits = {
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  deadlineMs: 2 * 60 * 60 * 1000,
  minBytesPerSecond: 4096,
  rateWindowMs: 60_000,
  maxRedirects: 5,
  maxBytes: 4 * 1024 * 1024 * 1024,
  retry: DEFAULT_RETRY,
};

export interface DownloadOptions {
  url: string;
  /**
   * Final path. The partial file is `<dest>.part`, its sidecar `<dest>.part.json`; a
   * finished file gets `<dest>.verified.json`, so a later call for the same content
   * returns it without fetching it again.
   */
  dest: string;
  dispatcher: Dispatcher;
  /** Lowercase or uppercase hex SHA-256 of the whole file; mismatch → HASH_MISMATCH. */
  expectedSha256?: string;
  /** Exact size in bytes; more → DOWNLOAD_TOO_LARGE, less → DOWNLOAD_TRUNCATED. */
  expectedSize?: number;
  /** Verify this Ed25519 signature over the file while downloading. */
  signature?: {
    signature: Uint8Array;
    publicKey: Uint8Array;
    /** More keys of the trusted set, any of which may have signed (key rotation). */
    otherKeys?: readonly Uint8Array[];
  };
  /**
   * Read the file back from the medium as it becomes durable, behind the writes, and
   * return that digest (`DownloadResult.readBack`) for the slot's install to compare.
   * Not compared here: the caller decides what a medium that lost a bit means.
   */
  readBack?: boolean;
  /** Extra request headers (e.g. Authorization); dropped on cross-origin redirects. */
  headers?: Record<string, string>;
  limits?: Partial<DownloadLimits>;
  /** Resume from a matching partial file (default true). */
  resume?: boolean;
  /**
   * The URL's content never changes (content-addressed, e.g. an OCI blob): resume
   * even when the server sends no ETag/Last-Modified to put in If-Range.
   */
  immutable?: boolean;
  /** Called at most every 200 ms and once at the end; `received` includes resumed bytes. */
  onProgress?: (received: number, total: number | undefined) => void;
  signal?: AbortSignal;
  log?: Logger;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  size: number;
  /** Bytes received over the network in this call (less than size after a resume). */
  bytesFetched: number;
  /** Bytes of an earlier partial file that were reused (0 if none). */
  resumedFrom: number;
  signatureVerified: boolean;
  attempts: number;
  /**
   * With `readBack`: the digest of the file as read back from the medium after its
   * last sync (read-back.ts). Absent when it was not asked for, when the file was
   * verified in an earlier run (nothing was written now), or when the read-back
   * failed: the caller then reads the file back itself.
   */
  readBack?: ReadBack;
}

const PROGRESS_INTERVAL_MS = 200;

/** Download `url` to `dest` with limits, hashing, optional signature check and resume. */
export async function downloadToFile(options: DownloadOptions): Promise<DownloadResult> {
  const transfer = new Transfer(options);
  return transfer.run();
}

class Transfer {
  readonly limits: DownloadLimits;
  readonly log: Logger;
  readonly part: string;
  readonly sidecar: string;
  readonly verifiedRecord: string;
  readonly url: string;
  sha: Hash = createHash('sha256');
  ed: OffThreadEd25519Verifier | undefined;
  /** With options.readBack: the reader following the writes of the partial file. */
  reader: TrailingReadBack | undefined;
  handle: FileHandle | undefined;
  /** Bytes in the partial file, all of them fed to the hashers. */
  offset = 0;
  fetched = 0;
  resumedFrom = 0;
  attempts = 0;
  validators: Pick<ResumeState, 'etag' | 'lastModified'> = {};
  lastProgress = 0;
  readonly run$: AbortController = new AbortController();

  constructor(readonly options: DownloadOptions) {
    this.limits = { ...DEFAULT_DOWNLOAD_LIMITS, ...(options.limits ?? {}) };
    this.log = options.log ?? silentLogger;
    this.part = `${options.dest}.part`;
    this.sidecar = `${options.dest}.part.json`;
    this.verifiedRecord = `${options.dest}.verified.json`;
    this.url = options.url;
    this.ed = this.newVerifier();
  }

  /** A read-back of the partial file from byte 0, when one is asked for. */
  async newReader(): Promise<void> {
    await this.reader?.close();
    this.reader = this.options.readBack ? new TrailingReadBack(this.part) : undefined;
  }

  /** The SHA-512 of the signature check runs on a worker thread: a second core's work. */
  newVerifier(): OffThreadEd25519Verifier | undefined {
    const sig = this.options.signature;
    return sig
      ? createKeySetVerifier(sig.signature, [sig.publicKey, ...(sig.otherKeys ?? [])])
      : undefined;
  }

  get limit(): number {
    return this.options.expectedSize ?? this.limits.maxBytes;
  }

  /** Resuming needs a validator for If-Range, or content that cannot change. */
  get canResume(): boolean {
    return this.options.immutable === true || ifRangeValue(this.validators) !== undefined;
  }

  async run(): Promise<DownloadResult> {
    const external = this.options.signal;
    const onAbort = (): void =>
      this.run$.abort(
        new OperationError(TransportCode.ABORTED, 'download aborted', {
          details: { url: redactUrl(this.url) },
        }),
      );
    if (external?.aborted) onAbort();
    external?.addEventListener('abort', onAbort, { once: true });
    const deadline = setTimeout(() => {
      this.run$.abort(
        new OperationError(
          TransportCode.TIMEOUT,
          `download did not finish within ${this.limits.deadlineMs} ms`,
          {
            details: {
              url: redactUrl(this.url),
              phase: 'deadline',
              limitMs: this.limits.deadlineMs,
            },
          },
        ),
      );
    }, this.limits.deadlineMs);
    try {
      // A download directory that cannot be made is a staging I/O failure, not UNEXPECTED.
      await mkdir(dirname(this.options.dest), { recursive: true }).catch((e: unknown) => {
        throw stagingError(e, dirname(this.options.dest));
      });
      const kept = await this.verifiedEarlier();
      if (kept !== undefined) return kept;
      await this.loadPartial();
      await withRetry((n) => this.attempt(n), this.limits.retry, this.log, this.run$.signal);
      return await this.finish();
    } catch (raw) {
      const err = toKubesoloError(raw);
      await this.cleanUp(err);
      throw err;
    } finally {
      clearTimeout(deadline);
      external?.removeEventListener('abort', onAbort);
      await this.ed?.close();
      await this.reader?.close();
      await this.handle?.close().catch(() => undefined);
      this.handle = undefined;
    }
  }

  /** What the verified record of this download says (and must say to be reused). */
  record(sha256: string): VerifiedRecord {
    const sig = this.options.signature;
    return {
      url: this.url,
      sha256,
      size: this.offset,
      ...(sig
        ? {
            signature: Buffer.from(sig.signature).toString('hex'),
            // Every key the check accepted: a download verified under another key set
            // is not reused as verified.
            publicKey: [sig.publicKey, ...(sig.otherKeys ?? [])]
              .map((k) => Buffer.from(k).toString('hex'))
              .join(','),
          }
        : {}),
    };
  }

  /**
   * `<dest>` from an earlier run that verified it (its record matches what is asked
   * now: URL, digest, size, and the same signature and key when one is required):
   * verified work is never fetched twice. The file is not hashed again here; the slot's
   * read-back after install does that from the medium. Anything else at `<dest>` is
   * removed.
   */
  async verifiedEarlier(): Promise<DownloadResult | undefined> {
    const dest = this.options.dest;
    const expected = this.options.expectedSha256?.toLowerCase();
    const saved =
      this.options.resume === false ? undefined : await readVerifiedRecord(this.verifiedRecord);
    // Only a regular file counts; a link there is removed below, never followed.
    const size = (await regularFileSize(dest).catch(() => undefined)) ?? -1;
    const want = expected === undefined ? undefined : this.record(expected);
    const matches =
      saved !== undefined &&
      want !== undefined &&
      saved.url === want.url &&
      saved.sha256 === want.sha256 &&
      saved.size === size &&
      (this.options.expectedSize === undefined || size === this.options.expectedSize) &&
      saved.signature === want.signature &&
      saved.publicKey === want.publicKey;
    if (!matches) {
      await rm(this.verifiedRecord, { force: true });
      await rm(dest, { force: true });
      return undefined;
    }
    this.log.info('verified download kept from an earlier run', {
      url: redactUrl(this.url),
      bytes: size,
    });
    this.offset = size;
    this.progress(true);
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
  async loadPartial(): Promise<void> {
    const saved = this.options.resume === false ? undefined : await readResumeState(this.sidecar);
    const size = (await regularFileSize(this.part).catch(() => undefined)) ?? -1;
    const matches =
      saved !== undefined &&
      saved.url === this.url &&
      saved.sha256 === (this.options.expectedSha256?.toLowerCase() ?? null) &&
      saved.size === (this.options.expectedSize ?? null) &&
      size > 0 &&
      size <= this.limit;
    if (!matches) {
      await this.discardPartial();
      return;
    }
    this.validators = {
      ...(saved.etag ? { etag: saved.etag } : {}),
      ...(saved.lastModified ? { lastModified: saved.lastModified } : {}),
    };
    if (!this.canResume) {
      await this.discardPartial();
      return;
    }
    // The final digest must cover the whole file, so re-hash the bytes already there;
    // the read-back reads them from the medium too (flushing what is still dirty).
    this.handle = await this.openPart('r+');
    await this.newReader();
    this.reader?.advance(size);
    // Read through the handle just opened (O_NOFOLLOW), not the path again.
    const stream = this.handle.createReadStream({
      start: 0,
      end: size - 1,
      highWaterMark: 1024 * 1024,
      autoClose: false,
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      this.sha.update(chunk);
      if (this.ed?.update(chunk)) await this.ed.ready();
    }
    this.offset = size;
    this.resumedFrom = size;
    this.log.info('resuming partial download', { url: redactUrl(this.url), from: size });
  }

  async openPart(mode: 'r+' | 'w+'): Promise<FileHandle> {
    // Never through a link planted at the partial file's name (ELOOP: a staging error).
    const flags =
      constants.O_RDWR | O_NOFOLLOW | (mode === 'w+' ? constants.O_CREAT | constants.O_TRUNC : 0);
    try {
      return await open(this.part, flags, 0o600);
    } catch (err) {
      throw stagingError(err, this.part);
    }
  }

  async discardPartial(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    await rm(this.part, { force: true });
    await rm(this.sidecar, { force: true });
  }

  /** Start over from byte 0 (server ignored Range, validator changed, or 416). */
  async restart(reason: string): Promise<void> {
    if (this.offset > 0)
      this.log.info('restarting download from the beginning', { url: redactUrl(this.url), reason });
    this.sha = createHash('sha256');
    await this.ed?.close();
    this.ed = this.newVerifier();
    await this.reader?.close();
    this.reader = undefined;
    this.offset = 0;
    this.resumedFrom = 0;
    await this.handle?.truncate(0).catch((err: unknown) => {
      throw stagingError(err, this.part);
    });
  }

  async attempt(attempt: number): Promise<void> {
    this.attempts = attempt;
    if (this.options.expectedSize !== undefined && this.offset === this.options.expectedSize)
      return;
    if (this.offset > 0 && !this.canResume) await this.restart('no validator for If-Range');
    const attempt$ = new AbortController();
    const signal = AbortSignal.any([this.run$.signal, attempt$.signal]);
    let response = await this.request(signal);
    if (this.offset > 0 && response.statusCode === 416) {
      discardBody(response.body);
      await this.restart('416 Range Not Satisfiable');
      response = await this.request(signal);
    }
    if (this.offset > 0 && response.statusCode === 206 && !this.sameRepresentation(response)) {
      discardBody(response.body);
      await this.restart('Content-Range or ETag does not match the partial file');
      response = await this.request(signal);
    }
    if (this.offset > 0 && response.statusCode === 200) {
      // RFC 9110 §13.1.5: a 200 answer to If-Range means the representation changed
      // (or the server ignores Range); its body is the whole file, so use it from 0.
      await this.restart('server sent the whole file (200) instead of the range');
    }
    const expectedStatus = this.offset > 0 ? 206 : 200;
    if (response.statusCode !== expectedStatus) {
      discardBody(response.body);
      throw httpStatusError(response);
    }
    await this.receive(response, signal, attempt$);
  }

  async request(signal: AbortSignal): Promise<OpenResponse> {
    const headers: Record<string, string> = {
      'accept-encoding': 'identity',
      ...(this.options.headers ?? {}),
    };
    if (this.offset > 0) {
      headers.range = `bytes=${this.offset}-`;
      const ifRange = ifRangeValue(this.validators);
      if (ifRange !== undefined) headers['if-range'] = ifRange;
    }
    return openRequest(this.url, {
      dispatcher: this.options.dispatcher,
      headers,
      maxRedirects: this.limits.maxRedirects,
      headersTimeoutMs: this.limits.headersTimeoutMs,
      bodyTimeoutMs: this.limits.idleTimeoutMs,
      signal,
    });
  }

  /** A 206 continues our partial file only if it starts at our offset and has our ETag. */
  sameRepresentation(response: OpenResponse): boolean {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(
      headerValue(response.headers, 'content-range') ?? '',
    );
    if (range === null || Number(range[1]) !== this.offset) return false;
    const etag = headerValue(response.headers, 'etag');
    if (this.validators.etag !== undefined && etag !== undefined && etag !== this.validators.etag)
      return false;
    const total = range[3] === '*' ? undefined : Number(range[3]);
    const expected = this.options.expectedSize;
    return total === undefined || expected === undefined || total === expected;
  }

  async receive(
    response: OpenResponse,
    signal: AbortSignal,
    attempt$: AbortController,
  ): Promise<void> {
    const url = redactUrl(response.url);
    if (this.offset === 0) {
      // A fresh file: remember what it is so a later run can resume it.
      const etag = headerValue(response.headers, 'etag');
      const lastModified = headerValue(response.headers, 'last-modified');
      this.validators = { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
      this.handle ??= await this.openPart('w+');
      await this.handle.truncate(0);
      await this.newReader();
      await writeResumeState(this.sidecar, {
        url: this.url,
        sha256: this.options.expectedSha256?.toLowerCase() ?? null,
        size: this.options.expectedSize ?? null,
        ...this.validators,
      });
    }
    const handle = this.handle ?? (this.handle = await this.openPart('r+'));
    const declared = Number(headerValue(response.headers, 'content-length') ?? NaN);
    if (Number.isFinite(declared) && this.offset + declared > this.limit) {
      discardBody(response.body);
      throw this.tooLarge(url, this.offset + declared);
    }
    const expectedSize = this.options.expectedSize;
    if (Number.isFinite(declared) && expectedSize !== undefined) {
      if (this.offset + declared !== expectedSize) {
        // A server that says how long its answer is, and says a different length than
        // the signed size, is serving something else: refuse before reading the body.
        discardBody(response.body);
        throw this.sizeMismatch(url, this.offset + declared);
      }
    }
    // Write the page cache out as we go (see BatchWriter): every 32 MiB; the read-back
    // follows each sync.
    const reader = this.reader;
    const writer = new BatchWriter(
      handle,
      this.offset,
      DEFAULT_BATCH_BYTES,
      32 * 1024 * 1024,
      (durable) => reader?.advance(durable),
    );
    const pacer = new GarbagePacer();
    const guard = this.startRateGuard(attempt$, url);
    let received = 0;
    try {
      // Flowing mode ('data' events) rather than for-await: a chunk is handed over as
      // soon as undici parses it, so when the connection drops nothing already
      // received sits unread in the stream buffer (and lost to the resume), and the
      // per-chunk cost is one call instead of an async-iterator round trip.
      // Backpressure: pause the body while the writer has a full batch queued or the
      // SHA-512 worker holds every slot.
      const body = response.body;
      await new Promise<void>((resolve, reject) => {
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
          if (this.offset + chunk.length > this.limit) {
            // Cut off one byte past the limit: nothing beyond it is hashed or written.
            fail(this.tooLarge(url, this.offset + chunk.length));
            return;
          }
          this.sha.update(chunk);
          const verifierFull = this.ed?.update(chunk) ?? false;
          const writerFull = writer.enqueue(chunk);
          this.offset += chunk.length;
          this.fetched += chunk.length;
          received += chunk.length;
          guard.bytes = received;
          pacer.add(chunk.length);
          this.progress(false);
          if (writerFull || verifierFull) {
            body.pause();
            Promise.all([writer.ready(), this.ed?.ready()]).then(() => {
              if (!failed) body.resume();
            }, fail);
          }
        });
        let ended = false;
        body.on('error', fail);
        body.on('end', () => {
          ended = true;
          if (!failed) resolve();
        });
        // An abort can destroy the body while receive() was still opening the partial
        // file, before these listeners existed: its 'error' and 'close' are then
        // already gone, and waiting for 'end' would wait for ever (a SIGTERM between
        // the headers and the first body byte hung apply until a second signal).
        const closedEarly = (): void => {
          if (!ended) fail(body.errored ?? signal.reason ?? new Error('response body closed'));
        };
        body.on('close', closedEarly);
        if (body.destroyed) closedEarly();
      });
    } finally {
      clearInterval(guard.timer);
      // Everything hashed must be on disk, so the partial file stays resumable.
      await writer.flush().catch((err: unknown) => {
        throw stagingError(err, this.part);
      });
    }
    if (!Number.isFinite(declared) && expectedSize !== undefined && this.offset < expectedSize) {
      // The body ended cleanly (chunked, no Content-Length): a complete answer that is
      // shorter than the signed size. A dropped connection is an error event instead.
      throw this.sizeMismatch(url, this.offset);
    }
    if (
      (Number.isFinite(declared) && received < declared) ||
      (expectedSize !== undefined && this.offset < expectedSize)
    ) {
      throw new OperationError(TransportCode.TRUNCATED, `body of ${url} ended early`, {
        details: {
          url,
          received: this.offset,
          expected: this.options.expectedSize ?? this.offset - received + declared,
        },
      });
    }
  }

  /**
   * Slow-retrieval guard: every quarter window, compare the bytes received in the last
   * `rateWindowMs` with the minimum rate. A trickling server that never goes silent
   * long enough for the idle timeout is stopped here (DOWNLOAD_TOO_SLOW).
   */
  startRateGuard(attempt$: AbortController, url: string): { bytes: number; timer: NodeJS.Timeout } {
    const { minBytesPerSecond: min, rateWindowMs: window } = this.limits;
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
                  details: {
                    url,
                    rate: Math.round(rate),
                    minBytesPerSecond: min,
                    windowMs: window,
                  },
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

  progress(final: boolean): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    const now = performance.now();
    if (!final && now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    cb(this.offset, this.options.expectedSize);
  }

  tooLarge(url: string, seen: number): VerificationError {
    return new VerificationError(
      TransportCode.TOO_LARGE,
      `${url} is larger than ${this.limit} bytes`,
      {
        details: {
          url,
          limit: this.limit,
          received: seen,
          declared: this.options.expectedSize !== undefined,
        },
      },
    );
  }

  sizeMismatch(url: string, length: number): VerificationError {
    return new VerificationError(
      TransportCode.SIZE_MISMATCH,
      `${url} is ${length} bytes long, the metadata says ${this.options.expectedSize}`,
      { details: { url, expected: this.options.expectedSize, actual: length } },
    );
  }

  async finish(): Promise<DownloadResult> {
    const url = redactUrl(this.url);
    const sha256 = this.sha.digest('hex');
    const expected = this.options.expectedSha256?.toLowerCase();
    if (expected !== undefined && sha256 !== expected) {
      throw new VerificationError(
        TransportCode.HASH_MISMATCH,
        `SHA-256 of ${url} does not match the metadata`,
        {
          details: { url, expected, actual: sha256 },
        },
      );
    }
    const signatureVerified = this.ed !== undefined;
    if (this.ed !== undefined && !(await this.ed.verify())) {
      throw new VerificationError(
        TransportCode.SIGNATURE_INVALID,
        `Ed25519 signature of ${url} does not verify`,
        {
          details: { url },
        },
      );
    }
    let readBack: ReadBack | undefined;
    try {
      // docs/design.md §2: fsync the data, rename, fsync the directory.
      await this.handle?.sync();
      readBack = await this.finishReadBack();
      await this.handle?.close();
      this.handle = undefined;
      await rename(this.part, this.options.dest);
      await fsyncDir(dirname(this.options.dest));
      await writeVerifiedRecord(this.verifiedRecord, this.record(sha256));
      await rm(this.sidecar, { force: true });
    } catch (err) {
      throw stagingError(err, this.options.dest);
    }
    this.progress(true);
    return {
      path: this.options.dest,
      sha256,
      size: this.offset,
      bytesFetched: this.fetched,
      resumedFrom: this.resumedFrom,
      signatureVerified,
      attempts: this.attempts,
      ...(readBack ? { readBack } : {}),
    };
  }

  /**
   * The rest of the read-back, now that the whole file is synced. A failure is only
   * logged: without a result the slot's install reads the file back itself, and
   * reports what it finds there (SLOT_READ_FAILED, SLOT_VERIFY_FAILED).
   */
  async finishReadBack(): Promise<ReadBack | undefined> {
    if (this.reader === undefined) return undefined;
    try {
      return await this.reader.finish();
    } catch (err) {
      this.log.debug('read-back during the download failed; the install reads back instead', {
        url: redactUrl(this.url),
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }

  /** Delete what cannot be trusted or resumed; keep a resumable partial file. */
  async cleanUp(err: KubesoloError): Promise<void> {
    const keep = !poisonsPartial(err) && this.offset > 0 && this.canResume;
    if (keep) {
      this.log.info('partial download kept for resume', {
        url: redactUrl(this.url),
        bytes: this.offset,
        reason: err.code,
      });
      return;
    }
    await this.discardPartial().catch(() => undefined);
  }
}

function stagingError(err: unknown, path: string): KubesoloError {
  if (err instanceof KubesoloError) return err;
  return new OperationError(TransportCode.STAGING_IO, `cannot write staging file ${path}`, {
    cause: err,
    details: { path, errno: errnoCode(err) },
  });
}
