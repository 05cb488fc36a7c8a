/**
 * `kubesolo-release serve`: a small static file server for labs and air-gapped sites.
 * What the agent's downloader relies on (RFC 9110): GET and HEAD, exact
 * Content-Length, a strong ETag, single byte ranges with 206/416, If-Range so a
 * resumed download never splices two versions of a file, and If-None-Match.
 *
 * Each response streams from a file handle opened once, so a file replaced by an
 * atomic rename (as `publish` does) mid-download keeps serving the old bytes under
 * the old ETag, and the next request sees the new file under a new ETag. Only
 * regular files are served, and opening never blocks: a FIFO or device node under the
 * served directory is a 404, not a request that hangs a thread-pool thread (and with
 * four of them, the whole server and its shutdown).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { OperationError, UsageError, errnoCode } from '../errors.js';
import { SERVER_LIMITS } from '../transport/http-limits.js';
import type { Logger } from '../log.js';

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * Parse a Range header against a file of `size` bytes (RFC 9110 §14.1.2).
 * Returns `undefined` when the header must be ignored (not `bytes=`, malformed, or
 * several ranges: a server MAY ignore Range, §14.2, and answer 200 with the whole
 * file), `'unsatisfiable'` for 416, or the one range to send.
 */
export function parseRange(header: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // suffix-range: the last N bytes (§14.1.2); N = 0 is unsatisfiable.
    const n = Number(last);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined; // invalid: ignore
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { start, end };
}

/** A strong validator from inode, size and nanosecond mtime: any replacement changes it. */
function etagFor(stat: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `"${stat.ino.toString(16)}-${stat.size.toString(16)}-${stat.mtimeNs.toString(16)}"`;
}

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Map a URL path to a file under `root`, or undefined when it must not be served. */
export function resolveRequestPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '');
  // No `..`, and no dot files: publish's temp folders and editor leftovers stay private.
  if (segments.some((s) => s.startsWith('.'))) return undefined;
  return join(root, ...segments);
}

function send(res: ServerResponse, status: number, text: string, headers = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** The entity tags listed in If-None-Match / If-Range style headers. */
function tagList(header: string): string[] {
  return header.split(',').map((t) => t.trim());
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    return;
  }
  const path = resolveRequestPath(root, new URL(req.url ?? '/', 'http://x').pathname);
  if (path === undefined) {
    send(res, 404, 'not found\n');
    return;
  }
  let fh: FileHandle;
  try {
    // Symlinks may point anywhere; only serve what really lies under root.
    const real = await realpath(path);
    if (real !== root && !real.startsWith(root + sep)) {
      send(res, 404, 'not found\n');
      return;
    }
    // O_NONBLOCK: open(2) of a FIFO without a writer would block; for a regular file
    // it changes nothing.
    fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') send(res, 404, 'not found\n');
    else send(res, 500, 'cannot open file\n');
    return;
  }
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) {
      send(res, 404, 'not found\n');
      return;
    }
    const size = Number(st.size);
    const etag = etagFor(st);
    const headers: Record<string, string | number> = {
      'Content-Type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
      ETag: etag,
      'Last-Modified': new Date(Number(st.mtimeMs)).toUTCString(),
      'Accept-Ranges': 'bytes',
      // Metadata must be revalidated by any cache in between; artifacts are versioned.
      'Cache-Control': 'no-cache',
    };

    const inm = req.headers['if-none-match'];
    if (inm !== undefined && (inm.trim() === '*' || tagList(inm).includes(etag))) {
      res.writeHead(304, headers);
      res.end();
      return;
    }

    let range: ByteRange | 'unsatisfiable' | undefined;
    const rangeHeader = req.headers.range;
    const ifRangeRaw = req.headers['if-range'];
    const ifRange = (Array.isArray(ifRangeRaw) ? ifRangeRaw[0] : ifRangeRaw)?.trim();
    // RFC 9110 §13.1.5: a Range is honoured only when If-Range (if any) still matches
    // the current representation, compared strongly (an entity tag, or the exact
    // Last-Modified date); otherwise the whole file is sent with 200.
    const ifRangeMatches =
      ifRange === undefined ||
      ifRange === etag ||
      (!ifRange.startsWith('"') &&
        !ifRange.startsWith('W/') &&
        ifRange === headers['Last-Modified']);
    if (rangeHeader !== undefined && ifRangeMatches) range = parseRange(rangeHeader, size);

    if (range === 'unsatisfiable') {
      send(res, 416, 'range not satisfiable\n', { 'Content-Range': `bytes */${size}` });
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = size === 0 ? 0 : end - start + 1;
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    headers['Content-Length'] = length;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    await pipeline(fh.createReadStream({ start, end, autoClose: false }), res);
  } finally {
    await fh.close();
  }
}

export interface StaticServerOptions {
  log: Logger;
}

/** A static file server over `root` (resolved with realpath first). */
export async function createStaticServer(
  root: string,
  options: StaticServerOptions,
): Promise<Server> {
  const log = options.log;
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (err) {
    throw new UsageError('SERVE_DIR_MISSING', `cannot serve ${root}: it does not exist`, {
      cause: err,
      details: { path: root },
    });
  }
  return createServer(SERVER_LIMITS, (req, res) => {
    const started = Date.now();
    res.on('finish', () =>
      log.info('request', {
        method: req.method,
        path: req.url,
        status: res.statusCode,
        range: req.headers.range,
        ms: Date.now() - started,
      }),
    );
    handle(realRoot, req, res).catch((err: unknown) => {
      // A client that disconnects mid-body ends the pipeline with an error: not ours.
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
      log.debug('response aborted', { path: req.url, error: String(err) });
    });
  });
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parse `HOST:PORT` or `[IPV6]:PORT`. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(
      'INVALID_LISTEN',
      `--listen takes HOST:PORT or [IPV6]:PORT (e.g. 127.0.0.1:8080), not '${text}'`,
    );
  }
  return { host: m[1] ?? m[2]!, port };
}

/** Start listening; resolves with the base URL (the real port when PORT was 0). */
export function listen(server: Server, address: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: unknown) =>
      reject(
        new OperationError('LISTEN_FAILED', `cannot listen on ${address.host}:${address.port}`, {
          cause: err,
          details: { host: address.host, port: address.port },
        }),
      );
    server.once('error', onError);
    server.listen(address.port, address.host, () => {
      server.off('error', onError);
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : address.port;
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      resolve(`http://${host}:${port}/`);
    });
  });
}
