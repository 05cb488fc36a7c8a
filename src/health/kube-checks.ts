/**
 * The Kubernetes checks: API server readiness, the local node's Ready condition, and
 * kube-system stability. API failures become fail verdicts whose reason is the
 * client's stable code (KUBE_UNREACHABLE, KUBE_TLS, KUBE_AUTH, ...).
 */
import { KubeError } from '../kube/errors.js';
import { findCondition, type KubeClient, type KubeNode, type KubePod } from '../kube/types.js';
import { fail, pass, type Outcome } from './types.js';

function fromKubeError(err: unknown): Outcome {
  if (err instanceof KubeError) return fail(err.code, err.message);
  throw err;
}

/** apiserver: GET /readyz answers 200 (every API server readiness check passed). */
export async function checkApiserver(kube: KubeClient): Promise<Outcome> {
  try {
    const r = await kube.readyz();
    if (r.ready) return pass(`${kube.server}/readyz: 200 ${r.body.trim().slice(0, 80)}`);
    const failed = r.body
      .split('\n')
      .filter((l) => l.startsWith('[-]'))
      .join('; ');
    return fail(
      'APISERVER_NOT_READY',
      `${kube.server}/readyz: HTTP ${r.status}${failed ? `: ${failed}` : ''}`,
    );
  } catch (err) {
    return fromKubeError(err);
  }
}

/**
 * Pick the local node: the one whose name (or kubernetes.io/hostname label) is the host
 * name, lowercased as the kubelet registers it; else, on a single-node cluster (what
 * KubeSolo is), the only node. Anything else is ambiguous and fails.
 */
export function selectLocalNode(
  nodes: readonly KubeNode[],
  hostname: string,
): { node: KubeNode; how: string } | undefined {
  const want = hostname.toLowerCase();
  const byName = nodes.find(
    (n) => n.metadata.name === want || n.metadata.labels?.['kubernetes.io/hostname'] === want,
  );
  if (byName) return { node: byName, how: `matches host name '${want}'` };
  if (nodes.length === 1) return { node: nodes[0]!, how: `the only node (host name '${want}')` };
  return undefined;
}

/**
 * The local node: `GET /api/v1/nodes/{name}` (what the agent's ServiceAccount may do:
 * get, not list, docs/kubernetes.md); when no node has that name (KubeSolo may register
 * under another one), the list and selectLocalNode, which only a broader account may read.
 */
async function findLocalNode(
  kube: KubeClient,
  name: string,
): Promise<{ node: KubeNode; how: string } | { missing: string }> {
  try {
    return { node: await kube.getNode(name.toLowerCase()), how: `named '${name.toLowerCase()}'` };
  } catch (err) {
    if (!(err instanceof KubeError) || err.code !== 'KUBE_NOT_FOUND') throw err;
  }
  const list = await kube.listNodes();
  const picked = selectLocalNode(list.items, name);
  if (picked) return picked;
  return { missing: list.items.map((n) => n.metadata.name ?? '?').join(', ') || 'none' };
}

/** node_ready: the local node's Ready condition is "True". */
export async function checkNodeReady(kube: KubeClient, nodeName: string): Promise<Outcome> {
  try {
    const picked = await findLocalNode(kube, nodeName);
    if ('missing' in picked) {
      return fail(
        'NODE_NOT_FOUND',
        `no node named '${nodeName.toLowerCase()}' (nodes: ${picked.missing})`,
      );
    }
    const name = picked.node.metadata.name ?? '?';
    const ready = findCondition(picked.node.status?.conditions, 'Ready');
    if (ready?.status === 'True') {
      return pass(`node ${name} (${picked.how}) is Ready since ${ready.lastTransitionTime ?? '?'}`);
    }
    const why = ready
      ? `Ready=${ready.status}${ready.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}`
      : 'no Ready condition reported';
    return fail('NODE_NOT_READY', `node ${name}: ${why}`);
  } catch (err) {
    return fromKubeError(err);
  }
}

/** One kube-system pod's verdict. */
export interface PodJudgement {
  pod: string;
  /** undefined: healthy and stable, or ignored. */
  problem?: 'KUBE_SYSTEM_POD_NOT_RUNNING' | 'KUBE_SYSTEM_POD_NOT_READY' | 'KUBE_SYSTEM_NOT_STABLE';
  ignored?: boolean;
  detail: string;
}

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Judge one pod at `nowMs`. Ready for `stableSeconds` means: phase Running, the Ready
 * condition True, every container ready and running, and the latest of the Ready
 * condition's lastTransitionTime and every container's running.startedAt at least
 * `stableSeconds` old. The timestamps are the pod's own (written by the kubelet), so
 * a crash-looping container, whose restart flips Ready and resets startedAt, fails
 * however long the agent has been waiting.
 */
export function judgePod(pod: KubePod, nowMs: number, stableSeconds: number): PodJudgement {
  const name = pod.metadata.name ?? '?';
  const phase = pod.status?.phase ?? 'Unknown';
  const controlled = pod.metadata.ownerReferences?.some((o) => o.controller === true) ?? false;
  // A pod being deleted, or a finished pod of a controller, is not what runs the
  // cluster: its replacement is judged instead. A completed Job pod stays Succeeded
  // forever, and an evicted ReplicaSet pod stays Failed until garbage-collected;
  // counting them would roll back healthy systems.
  if (pod.metadata.deletionTimestamp !== undefined) {
    return { pod: name, ignored: true, detail: 'terminating' };
  }
  if (phase === 'Succeeded' || (phase === 'Failed' && controlled)) {
    return { pod: name, ignored: true, detail: `finished (${phase})` };
  }
  if (phase !== 'Running') {
    const reason = pod.status?.reason ? ` (${pod.status.reason})` : '';
    return { pod: name, problem: 'KUBE_SYSTEM_POD_NOT_RUNNING', detail: `phase ${phase}${reason}` };
  }
  const containers = pod.status?.containerStatuses ?? [];
  const unready = containers.filter((c) => !c.ready || c.state?.running === undefined);
  const ready = findCondition(pod.status?.conditions, 'Ready');
  if (containers.length === 0 || unready.length > 0 || ready?.status !== 'True') {
    const what = unready
      .map((c) => {
        const waiting = c.state?.waiting?.reason;
        return `${c.name}${waiting ? ` ${waiting}` : c.ready ? '' : ' not ready'} restarts=${c.restartCount}`;
      })
      .join(', ');
    return {
      pod: name,
      problem: 'KUBE_SYSTEM_POD_NOT_READY',
      detail: what || `Ready=${ready?.status ?? 'missing'}`,
    };
  }
  const stamps = [
    parseTime(ready.lastTransitionTime),
    ...containers.map((c) => parseTime(c.state?.running?.startedAt)),
  ];
  if (stamps.some((t) => t === undefined)) {
    return {
      pod: name,
      problem: 'KUBE_SYSTEM_NOT_STABLE',
      detail: 'no valid Ready/startedAt timestamp to measure stability from',
    };
  }
  const since = Math.max(...(stamps as number[]));
  const readyFor = (nowMs - since) / 1000;
  if (readyFor < stableSeconds) {
    const restarts = containers.reduce((sum, c) => sum + c.restartCount, 0);
    return {
      pod: name,
      problem: 'KUBE_SYSTEM_NOT_STABLE',
      detail: `ready for ${Math.max(0, Math.floor(readyFor))} s < ${stableSeconds} s (restarts=${restarts})`,
    };
  }
  return { pod: name, detail: `ready for ${Math.floor(readyFor)} s` };
}

// Most severe first: the reason code reported when pods fail in different ways.
const SEVERITY = [
  'KUBE_SYSTEM_POD_NOT_RUNNING',
  'KUBE_SYSTEM_POD_NOT_READY',
  'KUBE_SYSTEM_NOT_STABLE',
] as const;

/** kube_system: every kube-system pod has been ready for at least `stableSeconds`. */
export async function checkKubeSystem(
  kube: KubeClient,
  nowMs: () => number,
  stableSeconds: number,
): Promise<Outcome> {
  try {
    const pods = await kube.listPods('kube-system');
    const now = nowMs();
    const judged = pods.items.map((p) => judgePod(p, now, stableSeconds));
    const counted = judged.filter((j) => !j.ignored);
    if (counted.length === 0) {
      // Nothing running in kube-system is no proof of a working cluster (CoreDNS at least
      // runs on KubeSolo); during boot the retry loop waits for the pods to appear.
      return fail('KUBE_SYSTEM_EMPTY', `no running pods in kube-system (${judged.length} ignored)`);
    }
    const bad = counted.filter((j) => j.problem !== undefined);
    if (bad.length > 0) {
      const reason = SEVERITY.find((s) => bad.some((b) => b.problem === s))!;
      return fail(reason, bad.map((b) => `${b.pod}: ${b.detail}`).join('; '));
    }
    const ignored = judged.length - counted.length;
    return pass(
      `${counted.length} kube-system pods ready for >= ${stableSeconds} s${ignored ? ` (${ignored} finished or terminating ignored)` : ''}`,
    );
  } catch (err) {
    return fromKubeError(err);
  }
}
