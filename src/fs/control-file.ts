/**
 * Reading the agent's small control files (update.conf, state.json, grubenv, the
 * kernel command line, boot id, a slot's `version`, the public key) without trusting
 * what sits at the path: only a regular file is read, never more than `maxBytes`
 * (+1 to tell "too large"), and opening never blocks (O_NONBLOCK: a FIFO planted at
 * the path would otherwise hang the agent in open(2)). With `noFollow`, a symlink at
 * the last component is refused (ELOOP) where one is never legitimate.
 *
 * Open errors are rethrown as they are (callers branch on ENOENT); a non-regular file
 * is `CONTROL_FILE_NOT_REGULAR`, an oversized one `CONTROL_FILE_TOO_LARGE`, both exit 1
 * unless the caller maps them to its own error.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { errnoCode, KubesoloError, OperationError } from '../errors.js';
import { parseJsonObject } from '../json.js';

export interface ControlFileOptions {
  /** Largest accepted size in bytes. */
  maxBytes: number;
  /** Refuse a symlink as the last path component. */
  noFollow?: boolean;
}

export async function readControlFile(path: string, options: ControlFileOptions): Promise<Buffer> {
  const flags =
    constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0);
  const handle = await open(path, flags);
  try {
    const st = await handle.stat();
    if (st.isDirectory()) {
      // What read(2) says, so callers report a directory the way readFile did.
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), {
        code: 'EISDIR',
      });
    }
    if (!st.isFile()) {
      throw new OperationError('CONTROL_FILE_NOT_REGULAR', `${path} is not a regular file`, {
        details: { path },
      });
    }
    // /proc files report size 0: read until EOF, but never past the limit.
    const buf = Buffer.alloc(Math.min(options.maxBytes, Math.max(st.size, 4096)) + 1);
    let length = 0;
    let chunk = buf;
    for (;;) {
      if (length === chunk.length) {
        if (chunk.length > options.maxBytes) break;
        const bigger = Buffer.alloc(Math.min(chunk.length * 2, options.maxBytes + 1));
        chunk.copy(bigger, 0, 0, length);
        chunk = bigger;
      }
      const { bytesRead } = await handle.read(chunk, length, chunk.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > options.maxBytes) {
      throw new OperationError(
        'CONTROL_FILE_TOO_LARGE',
        `${path} is larger than ${options.maxBytes} bytes`,
        { details: { path, maxBytes: options.maxBytes } },
      );
    }
    return chunk.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/** The same, decoded as UTF-8. */
export async function readControlText(path: string, options: ControlFileOptions): Promise<string> {
  return (await readControlFile(path, options)).toString('utf8');
}

/**
 * A JSON record the agent writes itself on the data partition (the floor, the hold):
 * never read through a link, none there is `missing`, and what else keeps it from being
 * a JSON object is `bad` with why, in the words "<path> <why>" reads with.
 */
export type JsonRecordRead =
  | { kind: 'missing' }
  | { kind: 'object'; doc: Record<string, unknown> }
  | { kind: 'bad'; why: string; cause?: unknown };

export async function readJsonRecord(path: string, maxBytes: number): Promise<JsonRecordRead> {
  let text: string;
  try {
    text = await readControlText(path, { maxBytes, noFollow: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'missing' };
    const why = `cannot be read (${errnoCode(err) ?? (err as Error).message})`;
    return { kind: 'bad', why, cause: err };
  }
  const read = parseJsonObject(text);
  if ('doc' in read) return { kind: 'object', doc: read.doc };
  return read.problem === 'not-json'
    ? { kind: 'bad', why: 'is not JSON', cause: read.cause }
    : { kind: 'bad', why: 'is not a JSON object' };
}

/**
 * `decode(input)` of a file read from `path`: a KubesoloError it throws names the file
 * (`details.path`), so the one error says which file is damaged.
 */
export function decodeNamingPath<I, T>(path: string, input: I, decode: (input: I) => T): T {
  try {
    return decode(input);
  } catch (err) {
    if (err instanceof KubesoloError) err.details.path = path;
    throw err;
  }
}
