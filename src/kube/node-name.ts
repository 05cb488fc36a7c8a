/**
 * The name of this device's Kubernetes node, as the health check's node_ready and the
 * node block label gate look it up: an explicit name (`--node-name`), else
 * `KUBESOLO_NODE_NAME` (the pods set it from the downward API's `spec.nodeName`: a pod
 * off the host network has the pod's name as its host name), else the host name,
 * lowercased as the kubelet registers it.
 */
import { hostname } from 'node:os';

export function localNodeName(
  explicit?: string,
  env: Record<string, string | undefined> = process.env,
): string {
  const name = explicit || env.KUBESOLO_NODE_NAME || hostname();
  return name.toLowerCase();
}
