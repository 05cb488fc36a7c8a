/**
 * One GET to the API server over node:https, with a deadline covering connect, TLS,
 * headers and body, a bounded body, and transport failures mapped to stable KUBE_*
 * codes. TLS is always verified against the configured CA (or Node's trust store when
 * there is none). What the answer means is the client's business (client.ts).
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { errnoCode } from '../errors.js';
import { userAgent } from '../version.js';
import { KubeError, type KubeErrorCode } from './errors.js';
import type { TokenSource } from './token.js';

/** Where and how to connect: the API server, its CA, our client certificate, a token. */
export interface Endpoint {
  server: URL;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  tlsServerName: string | undefined;
  token: TokenSource | undefined;
}

export interface RawResponse {
  status: number;
  body: Buffer;
}

export interface HttpsGetter {
  /** The server's URL with its path prefix, for messages. */
  readonly where: string;
  get(path: string, accept: string): Promise<RawResponse>;
  close(): void;
}

/** Node/OpenSSL codes for a server certificate that did not verify (client side). */
const CERT_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

class Deadline extends Error {}

/**
 * Classify a transport error. A TLS alert *received* about a certificate
 * (`ERR_SSL_…_ALERT_CERTIFICATE_EXPIRED`, `…_BAD_CERTIFICATE`, `…_UNKNOWN_CA`,
 * `…_CERTIFICATE_REQUIRED`) means the server rejected our client certificate
 * (RFC 8446 §6.2), so it is an authentication failure, not a TLS trust failure.
 * Everything else that is not TLS (refused, reset, no route, DNS) is unreachable.
 */
export function classifyTransportError(err: unknown): KubeErrorCode {
  if (err instanceof Deadline) return 'KUBE_TIMEOUT';
  const code = errnoCode(err) ?? '';
  if (CERT_VERIFY_CODES.has(code)) return 'KUBE_TLS';
  if (/^ERR_SSL_.*ALERT_(CERTIFICATE_|BAD_CERTIFICATE|UNKNOWN_CA)/.test(code)) return 'KUBE_AUTH';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'KUBE_TLS';
  return 'KUBE_UNREACHABLE';
}

function hostnameOf(url: URL): string {
  // URL keeps IPv6 literals bracketed; the socket layer wants them bare.
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

export function createHttpsGetter(
  endpoint: Endpoint,
  limits: { timeoutMs: number; maxBytes: number },
): HttpsGetter {
  const { server } = endpoint;
  const basePath = server.pathname.replace(/\/+$/, '');
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 4,
    ...(endpoint.ca ? { ca: endpoint.ca } : {}),
    ...(endpoint.cert ? { cert: endpoint.cert } : {}),
    ...(endpoint.key ? { key: endpoint.key } : {}),
    rejectUnauthorized: true,
  });
  const where = server.origin + basePath;

  async function get(path: string, accept: string): Promise<RawResponse> {
    const headers: Record<string, string> = { accept, 'user-agent': userAgent() };
    // Read per request: a projected token is replaced before it expires.
    if (endpoint.token) headers.authorization = `Bearer ${await endpoint.token.current()}`;
    return send(
      {
        protocol: 'https:',
        hostname: hostnameOf(server),
        port: server.port === '' ? 443 : Number(server.port),
        path: basePath + path,
        method: 'GET',
        agent,
        headers,
        rejectUnauthorized: true,
        // tls.connect verifies the certificate against `servername` when given.
        ...(endpoint.tlsServerName !== undefined ? { servername: endpoint.tlsServerName } : {}),
      },
      where + path,
    );
  }

  function send(options: RequestOptions, url: string): Promise<RawResponse> {
    const { timeoutMs, maxBytes } = limits;
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      // Whether TCP connected but TLS never completed: a reset then is a handshake
      // failure (often the server refusing our client certificate), not an outage.
      let tcpUp = false;
      let tlsUp = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        return true;
      };
      const fail = (err: unknown): void => {
        if (!settle()) return;
        let code = classifyTransportError(err);
        let reason = err instanceof Deadline ? `no answer within ${timeoutMs} ms` : String(err);
        if (code === 'KUBE_UNREACHABLE' && tcpUp && !tlsUp) {
          code = 'KUBE_TLS';
          reason = `TLS handshake failed (${String(err)}); the server may have refused the client certificate`;
        }
        reject(new KubeError(code, `GET ${url}: ${reason}`, { cause: err, details: { url } }));
      };
      const req = request(options, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            if (!settle()) return;
            req.destroy();
            reject(
              new KubeError('KUBE_RESPONSE_TOO_LARGE', `GET ${url}: body over ${maxBytes} bytes`, {
                details: { url },
              }),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settle()) resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('response aborted')));
      });
      const timer = setTimeout(() => req.destroy(new Deadline()), timeoutMs);
      req.on('socket', (socket: Socket) => {
        if (!(socket as TLSSocket).connecting) {
          // A kept-alive socket: already through TCP and TLS.
          tcpUp = tlsUp = true;
          return;
        }
        socket.once('connect', () => (tcpUp = true));
        socket.once('secureConnect', () => (tlsUp = true));
      });
      req.on('error', fail);
      req.end();
    });
  }

  return { where, get, close: () => agent.destroy() };
}
