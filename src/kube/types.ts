/**
 * The few Kubernetes API objects the agent reads, typed as the API server serves them
 * (core/v1 Node, Pod and their lists; meta/v1 Status). Only the fields the health checks
 * use are typed; everything is optional because the API omits empty fields
 * (`omitempty`) and a check must never crash on a sparse object.
 */

/** meta/v1 ObjectMeta (subset). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  /** Set when the object is being deleted (graceful termination in progress). */
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: {
    apiVersion?: string;
    kind?: string;
    name?: string;
    uid?: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}

/** meta/v1 ListMeta (subset). */
export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
}

/** core/v1 NodeCondition / PodCondition. */
export interface Condition {
  type: string;
  /** The string "True", "False" or "Unknown" (never a boolean). */
  status: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
  lastProbeTime?: string | null;
  reason?: string;
  message?: string;
}

export interface NodeStatus {
  conditions?: Condition[];
  nodeInfo?: {
    kubeletVersion?: string;
    osImage?: string;
    containerRuntimeVersion?: string;
    kernelVersion?: string;
  };
  addresses?: { type: string; address: string }[];
}

export interface KubeNode {
  kind?: 'Node';
  apiVersion?: string;
  metadata: ObjectMeta;
  spec?: { unschedulable?: boolean; podCIDR?: string };
  status?: NodeStatus;
}

/** core/v1 ContainerState: exactly one member is set. */
export interface ContainerState {
  running?: { startedAt?: string };
  waiting?: { reason?: string; message?: string };
  terminated?: {
    exitCode?: number;
    reason?: string;
    message?: string;
    startedAt?: string;
    finishedAt?: string;
  };
}

export interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  started?: boolean;
  state?: ContainerState;
  lastState?: ContainerState;
  image?: string;
  imageID?: string;
  containerID?: string;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface PodStatus {
  /** A PodPhase; typed as string because a newer server may add phases. */
  phase?: string;
  conditions?: Condition[];
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
  startTime?: string;
  hostIP?: string;
  podIP?: string;
  reason?: string;
  message?: string;
}

export interface KubePod {
  kind?: 'Pod';
  apiVersion?: string;
  metadata: ObjectMeta;
  spec?: { nodeName?: string; containers?: { name: string; image?: string }[] };
  status?: PodStatus;
}

export interface KubeList<T> {
  kind: string;
  apiVersion: string;
  metadata: ListMeta;
  items: T[];
}

export type NodeList = KubeList<KubeNode>;
export type PodList = KubeList<KubePod>;

/** meta/v1 Status: the body of every API error response. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion?: string;
  status?: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
}

/** Result of GET /readyz (the API server's aggregated readiness, `?verbose` off). */
export interface ReadyzResult {
  /** HTTP 200 means every readiness check of the API server passed. */
  ready: boolean;
  status: number;
  /** Body text (`ok`, or the list of failed checks), truncated to 4 KiB. */
  body: string;
}

/** What the agent needs from the Kubernetes API: read-only, four calls. */
export interface KubeClient {
  /** GET /api/v1/nodes */
  listNodes(): Promise<NodeList>;
  /** GET /api/v1/nodes/{name}; throws KubeError KUBE_NOT_FOUND when there is no such node. */
  getNode(name: string): Promise<KubeNode>;
  /** GET /api/v1/namespaces/{namespace}/pods */
  listPods(namespace: string): Promise<PodList>;
  /** GET /readyz; a non-200 answer is returned (not thrown) so the caller can report it. */
  readyz(): Promise<ReadyzResult>;
  /** The API server URL, for messages. */
  readonly server: string;
  /** Release pooled connections. */
  close(): void;
}

/** Condition of the given type, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
