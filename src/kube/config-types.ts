/**
 * The shapes of a client configuration and of the search for one, shared by the
 * kubeconfig loader (config.ts) and the in-cluster account (in-cluster.ts).
 */

/** Everything needed to make an authenticated, verified HTTPS call to the API server. */
export interface KubeConfig {
  /** API server base URL (https). */
  server: URL;
  /** PEM CA bundle; undefined means Node's default trust store. */
  ca: Buffer | undefined;
  /** PEM client certificate and key (both or neither). */
  cert: Buffer | undefined;
  key: Buffer | undefined;
  /** Bearer token (as read when the configuration was loaded). */
  token: string | undefined;
  /**
   * The file the token comes from (kubeconfig `tokenFile`, the service account's
   * projected token): the client reads it again whenever it changes, since such tokens
   * expire and are replaced.
   */
  tokenFile: string | undefined;
  /** `tls-server-name`: name to verify the server certificate against. */
  tlsServerName: string | undefined;
  /** The file it came from, and the context used. */
  path: string;
  context: string;
  /** Non-fatal findings (e.g. an ignored insecure-skip-tls-verify). */
  warnings: string[];
}

/** Where the credentials come from: a kubeconfig file, or the pod's service account. */
export type KubeconfigSource = 'config' | 'env' | 'in-cluster' | 'default';

export interface KubeconfigLocation {
  path: string;
  source: KubeconfigSource;
  /** Whether absolute paths inside the file are resolved under --root. */
  rooted: boolean;
}

export interface KubeconfigSearch {
  /** `--root` (default `/`). */
  root?: string;
  /** The `kubeconfig=` config key (resolved under --root). */
  kubeconfigPath?: string | undefined;
  /**
   * Environment to read `KUBECONFIG` and `KUBERNETES_SERVICE_HOST`/`_PORT` from
   * (default: none; pass process.env explicitly).
   */
  env?: Record<string, string | undefined>;
  /** The service account's directory in a pod (default SERVICE_ACCOUNT_DIR; tests move it). */
  serviceAccountDir?: string;
}
