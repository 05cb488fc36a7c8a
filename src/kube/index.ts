/**
 * Entry point of the Kubernetes client for the rest of the agent: find the kubeconfig
 * (config key, KUBECONFIG, KubeSolo's default under --root) and build a client.
 */
import { createKubeClient, type KubeClientOptions } from './client.js';
import { findKubeconfig, loadKubeConfig, type KubeconfigSearch } from './config.js';
import { loadInClusterConfig } from './in-cluster.js';
import type { KubeClient } from './types.js';

export { createKubeClient, classifyTransportError, type KubeClientOptions } from './client.js';
export {
  findKubeconfig,
  kubeconfigCandidates,
  loadKubeConfig,
  type KubeConfig,
  type KubeconfigLocation,
  type KubeconfigSearch,
  type KubeconfigSource,
} from './config.js';
export { KubeError, type KubeErrorCode } from './errors.js';
export { SERVICE_ACCOUNT_DIR, loadInClusterConfig } from './in-cluster.js';
export { localNodeName } from './node-name.js';
export * from './types.js';

export interface LoadKubeClientOptions extends KubeconfigSearch, KubeClientOptions {
  /** Called with each non-fatal kubeconfig finding (ignored insecure flag, ...). */
  onWarning?: (message: string, path: string) => void;
}

/**
 * The client for the configuration findKubeconfig finds (a kubeconfig file, or the
 * pod's service account), or undefined when there is none (a device without
 * Kubernetes; callers log and skip). One that exists but cannot be used throws
 * ConfigError KUBECONFIG_INVALID.
 */
export async function loadKubeClient(
  options: LoadKubeClientOptions,
): Promise<KubeClient | undefined> {
  const location = await findKubeconfig(options);
  if (location === undefined) return undefined;
  const config =
    location.source === 'in-cluster'
      ? await loadInClusterConfig(location.path, options.env ?? {})
      : await loadKubeConfig(location.path, { root: options.root ?? '/', rooted: location.rooted });
  for (const w of config.warnings) options.onWarning?.(w, config.path);
  return createKubeClient(config, options);
}
