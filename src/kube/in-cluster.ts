/**
 * The pod's own service account (client-go's "in-cluster config"): the API server from
 * `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, the cluster CA from `ca.crt` and
 * the projected token from `token`, both in the service account's directory. The token
 * expires (an hour by default) and the kubelet replaces it: the client reads the file
 * again whenever it changes (token.ts). Used when the agent runs in a pod of
 * deploy/kubernetes, with the least privilege its ServiceAccount is granted
 * (docs/kubernetes.md "Least privilege").
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { KubeConfig, KubeconfigLocation, KubeconfigSearch } from './config-types.js';

/** Where the kubelet mounts a pod's service account. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster location, when the environment names an API server and a token is mounted. */
export async function inClusterLocation(
  search: KubeconfigSearch,
): Promise<KubeconfigLocation | undefined> {
  const host = search.env?.KUBERNETES_SERVICE_HOST;
  const port = search.env?.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const dir = search.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const mounted = await access(join(dir, 'token')).then(
    () => true,
    () => false,
  );
  return mounted ? { path: dir, source: 'in-cluster', rooted: false } : undefined;
}

/** The service account in `dir` as a client configuration. */
export async function loadInClusterConfig(
  dir: string,
  env: Record<string, string | undefined>,
): Promise<KubeConfig> {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  let server: URL;
  try {
    // An IPv6 service address (a dual-stack or IPv6 cluster) needs brackets in a URL.
    server = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`);
  } catch (err) {
    throw new ConfigError(
      'KUBECONFIG_INVALID',
      `KUBERNETES_SERVICE_HOST and _PORT (${host}:${port}) do not make a URL`,
      { cause: err, details: { host, port } },
    );
  }
  const tokenFile = join(dir, 'token');
  const read = (name: string) =>
    readFile(join(dir, name)).catch((err: unknown) => {
      throw new ConfigError('KUBECONFIG_INVALID', `cannot read the service account's ${name}`, {
        cause: err,
        details: { path: join(dir, name) },
      });
    });
  const token = (await read('token')).toString('utf8').trim();
  return {
    server,
    // The cluster's CA; without it the API server's certificate is checked against
    // Node's trust store, which fails closed (KUBE_TLS), never open.
    ca: await readFile(join(dir, 'ca.crt')).catch(() => undefined),
    cert: undefined,
    key: undefined,
    token: token === '' ? undefined : token,
    tokenFile,
    tlsServerName: undefined,
    path: dir,
    context: 'in-cluster',
    warnings: [],
  };
}
