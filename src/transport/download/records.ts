/**
 * The sidecar next to a partial download (`<file>.part.json`): what the partial bytes
 * are, so a later run resumes only the same content. It records the URL asked for, the
 * expected digest and size from the metadata, and the validators (ETag, Last-Modified)
 * the server gave, which go into If-Range (RFC 9110 §13.1.5) when resuming.
 *
 * A finished download gets a second record (`<file>.verified.json`): the digest, size
 * and signature it was verified against, so a rerun reuses it instead of fetching it
 * again.
 */
import { atomicWriteFile } from '../../fs/atomic.js';
import { readControlText } from '../../fs/control-file.js';

/** Far more than a record holds (a URL, a digest, validators, a signature and keys). */
const MAX_RECORD_BYTES = 64 * 1024;

export interface ResumeState {
  url: string;
  sha256: string | null;
  size: number | null;
  etag?: string;
  lastModified?: string;
}

/** A JSON object from `path`, or undefined when it is missing, corrupt or not an object. */
async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  let value: unknown;
  try {
    // A control file: regular, bounded, never a link, never blocking (a FIFO planted
    // here hung apply with the run lock held).
    value = JSON.parse(await readControlText(path, { maxBytes: MAX_RECORD_BYTES, noFollow: true }));
  } catch {
    return undefined; // missing, corrupt or not a plain file: start over, never crash
  }
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)
    : undefined;
}

export async function readResumeState(path: string): Promise<ResumeState | undefined> {
  const v = await readJsonObject(path);
  if (v === undefined || typeof v.url !== 'string') return undefined;
  return {
    url: v.url,
    sha256: typeof v.sha256 === 'string' ? v.sha256 : null,
    size: typeof v.size === 'number' ? v.size : null,
    ...(typeof v.etag === 'string' ? { etag: v.etag } : {}),
    ...(typeof v.lastModified === 'string' ? { lastModified: v.lastModified } : {}),
  };
}

export async function writeResumeState(path: string, state: ResumeState): Promise<void> {
  await atomicWriteFile(path, JSON.stringify(state) + '\n', { mode: 0o600 });
}

/** The If-Range value: a strong ETag, else Last-Modified (weak ETags are not allowed). */
export function ifRangeValue(
  state: Pick<ResumeState, 'etag' | 'lastModified'>,
): string | undefined {
  if (state.etag !== undefined && !state.etag.startsWith('W/')) return state.etag;
  return state.lastModified;
}

/** What a finished download was verified against (`<file>.verified.json`). */
export interface VerifiedRecord {
  url: string;
  sha256: string;
  size: number;
  /** Hex signature and public key, when an Ed25519 signature was verified too. */
  signature?: string;
  publicKey?: string;
}

export async function readVerifiedRecord(path: string): Promise<VerifiedRecord | undefined> {
  const v = await readJsonObject(path);
  if (
    v === undefined ||
    typeof v.url !== 'string' ||
    typeof v.sha256 !== 'string' ||
    typeof v.size !== 'number'
  )
    return undefined; // fetch again
  return {
    url: v.url,
    sha256: v.sha256,
    size: v.size,
    ...(typeof v.signature === 'string' ? { signature: v.signature } : {}),
    ...(typeof v.publicKey === 'string' ? { publicKey: v.publicKey } : {}),
  };
}

export async function writeVerifiedRecord(path: string, record: VerifiedRecord): Promise<void> {
  await atomicWriteFile(path, JSON.stringify(record) + '\n', { mode: 0o600 });
}
