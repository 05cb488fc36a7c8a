/**
 * Loopback HTTP servers for tests, honest and hostile. Every server binds 127.0.0.1
 * (or ::1) only, records the requests it saw, and closes every socket on close(), so
 * a stalled or endless response cannot keep a test alive.
 *
 *   const srv = await startServer({ '/latest.json': json(doc), '/img': staticFile(bytes) });
 *   srv.url('/img')            // http://127.0.0.1:PORT/img
 *   srv.requests               // [{ method, path, headers }]
 *   await srv.close();
 *
 * Handlers for hostile behaviour: truncated(), endless(), stallAfter(), trickle(),
 * failTimes(), redirect(), status(). Reuse them for other clients (OCI, health).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export interface TestServer {
  server: Server;
  port: number;
  origin: string;
  url(path: string): string;
  requests: RecordedRequest[];
  /** Replace or add a route while running. */
  route(path: string, handler: Handler): void;
  close(): Promise<void>;
}

export interface StartOptions {
  host?: '127.0.0.1' | '::1';
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
  /** The handler of every path without a route of its own (a fake registry, a proxy). */
  fallback?: Handler;
}

export async function startServer(
  routes: Record<string, Handler>,
  options: StartOptions = {},
): Promise<TestServer> {
  const table = new Map(Object.entries(routes));
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers });
    const handler = table.get(path) ?? options.fallback;
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    Promise.resolve(handler(req, res)).catch(() => res.destroy());
  };
  const server: Server = options.tls
    ? createHttpsServer(options.tls, listener)
    : createServer(listener);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // TLS servers see the raw socket on 'connection' too; secureConnection is enough.
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `${options.tls ? 'https' : 'http'}://${host === '::1' ? '[::1]' : host}:${port}`;
  return {
    server,
    port,
    origin,
    url: (path) => origin + path,
    requests,
    route: (path, handler) => table.set(path, handler),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export interface StaticOptions {
  /** ETag to send; default a strong tag derived from the content. null: none. */
  etag?: string | null;
  lastModified?: string | null;
  /** Honour Range/If-Range (default true). false: always 200 with the whole body. */
  ranges?: boolean;
  contentType?: string;
}

/**
 * A well-behaved static file: Content-Length, ETag, Last-Modified, and single
 * `bytes=N-` / `bytes=N-M` ranges with If-Range (RFC 9110 §14, §13.1.5).
 */
export function staticFile(body: Uint8Array, options: StaticOptions = {}): Handler {
  return (req, res) => {
    const etag = options.etag === undefined ? `"${sha256(body).slice(0, 16)}"` : options.etag;
    const lastModified =
      options.lastModified === undefined ? 'Wed, 21 Oct 2015 07:28:00 GMT' : options.lastModified;
    const headers: Record<string, string | number> = {
      'content-type': options.contentType ?? 'application/octet-stream',
      'accept-ranges': options.ranges === false ? 'none' : 'bytes',
    };
    if (etag !== null) headers.etag = etag;
    if (lastModified !== null) headers['last-modified'] = lastModified;
    const range = req.headers.range;
    const ifRange = req.headers['if-range'];
    const validatorOk = ifRange === undefined || ifRange === etag || ifRange === lastModified;
    const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    if (options.ranges !== false && m && validatorOk) {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
      if (start >= body.length) {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        ...headers,
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${body.length}`,
      });
      res.end(body.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(body);
  };
}

export function json(value: unknown): Handler {
  return staticFile(new TextEncoder().encode(JSON.stringify(value)), {
    contentType: 'application/json',
  });
}

export function status(code: number, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(code, headers).end(`status ${code}`);
  };
}

/** Declares the full Content-Length, sends `cutAt` bytes, then drops the connection. */
export function truncated(body: Uint8Array, cutAt: number, options: StaticOptions = {}): Handler {
  const full = staticFile(body, options);
  return (req, res) => {
    if (req.headers.range) return full(req, res);
    res.writeHead(200, {
      'content-length': body.length,
      etag: options.etag ?? `"${sha256(body).slice(0, 16)}"`,
    });
    // The cut waits for the client to take the bytes in: when the connection ends first,
    // undici drops the body's unread chunks with the error, and the partial a resume test
    // needs would be empty. 100 ms was too short on a loaded machine (load 13).
    res.write(body.subarray(0, cutAt), () => setTimeout(() => res.socket?.destroy(), 500));
  };
}

/** Chunked response that never ends (until the client goes away). */
export function endless(chunk = Buffer.alloc(64 * 1024, 0x41)): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  };
}

/** The strong ETag staticFile() sends for `body`. */
export const etagOf = (body: Uint8Array): string => `"${sha256(body).slice(0, 16)}"`;

/**
 * Sends headers (with the ETag of `body`, unless `etag: null`) and the first `after`
 * bytes, then goes silent with the socket open.
 */
export function stallAfter(
  body: Uint8Array,
  after: number,
  options: { etag?: string | null } = {},
): Handler {
  return (_req, res) => {
    const etag = options.etag === undefined ? etagOf(body) : options.etag;
    res.writeHead(200, { 'content-length': body.length, ...(etag === null ? {} : { etag }) });
    res.write(body.subarray(0, after));
  };
}

/** Sends headers, then never the body (or nothing at all with `headers: false`). */
export function silent(options: { headers: boolean } = { headers: false }): Handler {
  return (_req, res) => {
    if (options.headers) {
      res.writeHead(200, { 'content-length': 10 });
      res.flushHeaders();
    }
  };
}

/** Sends `bytesPerTick` bytes every `tickMs` (a slow-loris download). */
export function trickle(body: Uint8Array, bytesPerTick = 1, tickMs = 1000): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-length': body.length, etag: etagOf(body) });
    let at = 0;
    const timer = setInterval(() => {
      if (res.destroyed || at >= body.length) {
        clearInterval(timer);
        if (!res.destroyed) res.end();
        return;
      }
      res.write(body.subarray(at, at + bytesPerTick));
      at += bytesPerTick;
    }, tickMs);
    res.on('close', () => clearInterval(timer));
  };
}

/** Answer `code` for the first `times` requests, then delegate to `then`. */
export function failTimes(
  times: number,
  code: number,
  then: Handler,
  headers: Record<string, string> = {},
): Handler {
  let n = 0;
  return (req, res) => {
    if (n++ < times) {
      res.writeHead(code, headers).end(`status ${code}`);
      return;
    }
    return then(req, res);
  };
}

export function redirect(location: string, code = 302): Handler {
  return (_req, res) => {
    res.writeHead(code, { location }).end();
  };
}

export interface TestProxy {
  url: string;
  /** `host:port` targets of every CONNECT seen. */
  connects: string[];
  close(): Promise<void>;
}

/** A loopback HTTP proxy that supports CONNECT tunnels (what undici's ProxyAgent uses). */
export async function startConnectProxy(): Promise<TestProxy> {
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    connects.push(target);
    const [host, port] = [
      target.slice(0, target.lastIndexOf(':')),
      Number(target.slice(target.lastIndexOf(':') + 1)),
    ];
    // Loopback only: this proxy refuses to reach anything else.
    if (host !== '127.0.0.1' && host !== '[::1]' && host !== 'localhost') {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(port, host.replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A self-signed P-256 certificate made with the openssl CLI, in `dir`: by default for a
 * server on 127.0.0.1 (CN and IP subjectAltName), or with another common name and no
 * subjectAltName (e.g. a token issuer's signing certificate).
 */
export function makeSelfSignedCert(
  dir: string,
  options: { commonName?: string; days?: number } = {},
): { key: string; cert: string; certFile: string } {
  const serverCert = options.commonName === undefined;
  const keyFile = join(dir, 'tls.key');
  const certFile = join(dir, 'tls.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      String(options.days ?? 2),
      '-subj',
      `/CN=${options.commonName ?? '127.0.0.1'}`,
      ...(serverCert ? ['-addext', 'subjectAltName=IP:127.0.0.1'] : []),
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}
