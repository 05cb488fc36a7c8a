/**
 * A minimal, read-only Kubernetes API client over node:https: list/get nodes, list
 * pods, /readyz. No client library: four GETs do not justify one (docs/design.md §4).
 *
 * Every call has a deadline covering connect, TLS, headers and body. TLS is always
 * verified against the kubeconfig's CA (or Node's trust store when it has none).
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { errnoCode } from '../errors.js';
import type { KubeConfig } from './config.js';
import { KubeError, type KubeErrorCode } from './errors.js';
import type { KubeClient, KubeNode, KubeStatus, NodeList, PodList, ReadyzResult } from './types.js';

export interface KubeClientOptions {
  /** Deadline of each call in milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Largest response body accepted (default 32 MiB: a big PodList, far from a flood). */
  maxResponseBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

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

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
]);

class Deadline extends Error {}

/**
 * Classify a transport error. A TLS alert *received* about a certificate
 * (`ERR_SSL_…_ALERT_CERTIFICATE_EXPIRED`, `…_BAD_CERTIFICATE`, `…_UNKNOWN_CA`,
 * `…_CERTIFICATE_REQUIRED`) means the server rejected our client certificate
 * (RFC 8446 §6.2), so it is an authentication failure, not a TLS trust failure.
 */
export function classifyTransportError(err: unknown): KubeErrorCode {
  if (err instanceof Deadline) return 'KUBE_TIMEOUT';
  const code = errnoCode(err) ?? '';
  if (CERT_VERIFY_CODES.has(code)) return 'KUBE_TLS';
  if (/^ERR_SSL_.*ALERT_(CERTIFICATE_|BAD_CERTIFICATE|UNKNOWN_CA)/.test(code)) return 'KUBE_AUTH';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'KUBE_TLS';
  if (UNREACHABLE_CODES.has(code)) return 'KUBE_UNREACHABLE';
  return 'KUBE_UNREACHABLE';
}

interface RawResponse {
  status: number;
  body: Buffer;
}

function statusMessage(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Partial<KubeStatus>;
    if (parsed.kind === 'Status' && typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Not a Status object: the caller reports the bare HTTP status.
  }
  return undefined;
}

function hostnameOf(url: URL): string {
  // URL keeps IPv6 literals bracketed; the socket layer wants them bare.
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

// eslint-disable-next-line max-lines-per-function -- split by the in-cluster rewrite of issue 30
export function createKubeClient(config: KubeConfig, options: KubeClientOptions = {}): KubeClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_BYTES;
  const server = config.server;
  const basePath = server.pathname.replace(/\/+$/, '');
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 4,
    ...(config.ca ? { ca: config.ca } : {}),
    ...(config.cert ? { cert: config.cert } : {}),
    ...(config.key ? { key: config.key } : {}),
    rejectUnauthorized: true,
  });
  const where = server.origin + basePath;

  function get(path: string, accept: string): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      const headers: Record<string, string> = {
        accept,
        'user-agent': 'kubesolo-update',
      };
      if (config.token !== undefined) headers.authorization = `Bearer ${config.token}`;
      const reqOptions: RequestOptions = {
        protocol: 'https:',
        hostname: hostnameOf(server),
        port: server.port === '' ? 443 : Number(server.port),
        path: basePath + path,
        method: 'GET',
        agent,
        headers,
        rejectUnauthorized: true,
        // tls.connect verifies the certificate against `servername` when given.
        ...(config.tlsServerName !== undefined ? { servername: config.tlsServerName } : {}),
      };
      let settled = false;
      // Whether TCP connected but TLS never completed: a reset then is a handshake
      // failure (often the server refusing our client certificate), not an outage.
      let tcpUp = false;
      let tlsUp = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        let code = classifyTransportError(err);
        let reason = err instanceof Deadline ? `no answer within ${timeoutMs} ms` : String(err);
        if (code === 'KUBE_UNREACHABLE' && tcpUp && !tlsUp) {
          code = 'KUBE_TLS';
          reason = `TLS handshake failed (${String(err)}); the server may have refused the client certificate`;
        }
        reject(
          new KubeError(code, `GET ${where}${path}: ${reason}`, {
            cause: err,
            details: { url: where + path },
          }),
        );
      };
      const req = request(reqOptions, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            settled = true;
            clearTimeout(timer);
            req.destroy();
            reject(
              new KubeError(
                'KUBE_RESPONSE_TOO_LARGE',
                `GET ${where}${path}: body over ${maxBytes} bytes`,
                {
                  details: { url: where + path },
                },
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('response aborted')));
      });
      const timer = setTimeout(() => req.destroy(new Deadline()), timeoutMs);
      req.on('socket', (socket: Socket) => {
        const tls = socket as TLSSocket;
        if (!tls.connecting) {
          // A kept-alive socket: already through TCP and TLS.
          tcpUp = true;
          tlsUp = true;
          return;
        }
        socket.once('connect', () => (tcpUp = true));
        socket.once('secureConnect', () => (tlsUp = true));
      });
      req.on('error', fail);
      req.end();
    });
  }

  function httpError(path: string, res: RawResponse): KubeError {
    const detail = statusMessage(res.body);
    const text = `GET ${where}${path}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`;
    // kube-apiserver answers 401 for missing/invalid credentials (including a client
    // certificate that fails verification) and 403 for an authenticated user without RBAC.
    const code: KubeErrorCode =
      res.status === 401 || res.status === 403
        ? 'KUBE_AUTH'
        : res.status === 404
          ? 'KUBE_NOT_FOUND'
          : 'KUBE_HTTP_STATUS';
    return new KubeError(code, text, { status: res.status, details: { url: where + path } });
  }

  async function getObject<T extends { kind?: string }>(path: string, kind: string): Promise<T> {
    const res = await get(path, 'application/json');
    if (res.status < 200 || res.status > 299) throw httpError(path, res);
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch (err) {
      throw new KubeError('KUBE_BAD_RESPONSE', `GET ${where}${path}: body is not JSON`, {
        cause: err,
        status: res.status,
      });
    }
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      (parsed as { kind?: unknown }).kind !== kind ||
      (kind.endsWith('List') && !Array.isArray((parsed as { items?: unknown }).items))
    ) {
      throw new KubeError('KUBE_BAD_RESPONSE', `GET ${where}${path}: expected a ${kind}`, {
        status: res.status,
      });
    }
    return parsed as T;
  }

  return {
    server: where,
    listNodes: () => getObject<NodeList>('/api/v1/nodes', 'NodeList'),
    getNode: (name) => getObject<KubeNode>(`/api/v1/nodes/${encodeURIComponent(name)}`, 'Node'),
    listPods: (namespace) =>
      getObject<PodList>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, 'PodList'),
    async readyz(): Promise<ReadyzResult> {
      const res = await get('/readyz', 'text/plain');
      if (res.status === 401 || res.status === 403) throw httpError('/readyz', res);
      return {
        ready: res.status === 200,
        status: res.status,
        body: res.body.subarray(0, 4096).toString('utf8'),
      };
    },
    close: () => agent.destroy(),
  };
}
