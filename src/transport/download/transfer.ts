/**
 * One download in progress: what it was asked for, and what it holds so far (the
 * partial file, the hashers fed with every byte in it, the server's validators). The
 * steps of a download (./resume.ts, ./receive.ts, ./finish.ts, orchestrated by
 * ./download.ts) share it.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { ioError, KubesoloError, VerificationError } from '../../errors.js';
import { O_NOFOLLOW } from '../../fs/no-follow.js';
import type { Logger } from '../../log.js';
import type { OffThreadEd25519Verifier } from '../../crypto/ed25519-offthread.js';
import { createKeySetVerifier } from '../../crypto/key-set-verifier.js';
import { TrailingReadBack, type ReadBack } from '../../fs/read-back.js';
import { BatchWriter, DEFAULT_BATCH_BYTES } from './batch-writer.js';
import { TransportCode, redactUrl } from '../errors.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../retry.js';
import { ifRangeValue, type ResumeState, type VerifiedRecord } from './records.js';

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
  log: Logger;
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
   * last sync (src/fs/read-back.ts). Absent when it was not asked for, when the file was
   * verified in an earlier run (nothing was written now), or when the read-back
   * failed: the caller then reads the file back itself.
   */
  readBack?: ReadBack;
}

const PROGRESS_INTERVAL_MS = 200;
/** How much a download writes between two fdatasyncs of its partial file. */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;

export class Transfer {
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
    this.log = options.log;
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

  /**
   * The writer of the partial file from `offset` on. It writes the page cache out as it
   * goes (see BatchWriter), every 32 MiB, and the read-back follows each sync.
   */
  newWriter(handle: FileHandle): BatchWriter {
    const reader = this.reader;
    return new BatchWriter(handle, this.offset, DEFAULT_BATCH_BYTES, SYNC_EVERY_BYTES, (durable) =>
      reader?.advance(durable),
    );
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
      this.log.info('restarting download from the beginning', { url: this.redactedUrl, reason });
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

  progress(final: boolean): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    const now = performance.now();
    if (!final && now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    cb(this.offset, this.options.expectedSize);
  }

  get redactedUrl(): string {
    return redactUrl(this.url);
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
}

export function stagingError(err: unknown, path: string): KubesoloError {
  if (err instanceof KubesoloError) return err;
  return ioError(TransportCode.STAGING_IO, `cannot write staging file ${path}`, err, { path });
}
