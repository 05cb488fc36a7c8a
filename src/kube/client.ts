/**
 * A minimal, read-only Kubernetes API client: get a node, list nodes, list pods,
 * /readyz. No client library: four GETs do not justify one (docs/design.md §4). The
 * transport (deadline, TLS, body limit, KUBE_* codes) is https-get.ts; this file says
 * what the API's answers mean.
 */
import type { KubeConfig } from './config.js';
import { KubeError, type KubeErrorCode } from './errors.js';
import { createHttpsGetter, type HttpsGetter, type RawResponse } from './https-get.js';
import { fileToken, fixedToken, type TokenSource } from './token.js';
import type { KubeClient, KubeNode, KubeStatus, NodeList, PodList, ReadyzResult } from './types.js';

export { classifyTransportError } from './https-get.js';

export interface KubeClientOptions {
  /** Deadline of each call in milliseconds (default 10 000). */
  timeoutMs?: number;
  /** Largest response body accepted (default 32 MiB: a big PodList, far from a flood). */
  maxResponseBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

/** The Status object's message, when the body is one (kube-apiserver's error bodies). */
function statusMessage(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Partial<KubeStatus>;
    if (parsed.kind === 'Status' && typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Not a Status object: the caller reports the bare HTTP status.
  }
  return undefined;
}

/**
 * A non-2xx answer as a KubeError. kube-apiserver answers 401 for missing or invalid
 * credentials (an expired token, a client certificate that fails verification) and 403
 * for an authenticated user that RBAC does not allow.
 */
function httpError(where: string, path: string, res: RawResponse): KubeError {
  const detail = statusMessage(res.body);
  const text = `GET ${where}${path}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`;
  const code: KubeErrorCode =
    res.status === 401 || res.status === 403
      ? 'KUBE_AUTH'
      : res.status === 404
        ? 'KUBE_NOT_FOUND'
        : 'KUBE_HTTP_STATUS';
  return new KubeError(code, text, { status: res.status, details: { url: where + path } });
}

/** A 2xx JSON answer of the expected kind (a List with its items array). */
async function getObject<T extends { kind?: string }>(
  http: HttpsGetter,
  path: string,
  kind: string,
): Promise<T> {
  const res = await http.get(path, 'application/json');
  if (res.status < 200 || res.status > 299) throw httpError(http.where, path, res);
  const what = `GET ${http.where}${path}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body.toString('utf8'));
  } catch (err) {
    throw new KubeError('KUBE_BAD_RESPONSE', `${what}: body is not JSON`, {
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
    throw new KubeError('KUBE_BAD_RESPONSE', `${what}: expected a ${kind}`, { status: res.status });
  }
  return parsed as T;
}

/** The bearer token of a configuration: a file (read again when it changes) wins. */
function tokenOf(config: KubeConfig): TokenSource | undefined {
  if (config.tokenFile !== undefined) return fileToken(config.tokenFile);
  return config.token === undefined ? undefined : fixedToken(config.token);
}

export function createKubeClient(config: KubeConfig, options: KubeClientOptions = {}): KubeClient {
  const http = createHttpsGetter(
    { ...config, token: tokenOf(config) },
    {
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBytes: options.maxResponseBytes ?? DEFAULT_MAX_BYTES,
    },
  );
  const enc = encodeURIComponent;
  return {
    server: http.where,
    listNodes: () => getObject<NodeList>(http, '/api/v1/nodes', 'NodeList'),
    getNode: (name) => getObject<KubeNode>(http, `/api/v1/nodes/${enc(name)}`, 'Node'),
    listPods: (namespace) =>
      getObject<PodList>(http, `/api/v1/namespaces/${enc(namespace)}/pods`, 'PodList'),
    async readyz(): Promise<ReadyzResult> {
      const res = await http.get('/readyz', 'text/plain');
      if (res.status === 401 || res.status === 403) throw httpError(http.where, '/readyz', res);
      return {
        ready: res.status === 200,
        status: res.status,
        body: res.body.subarray(0, 4096).toString('utf8'),
      };
    },
    close: () => http.close(),
  };
}
