/**
 * The Kubernetes health checks end to end: kubeconfig file → mTLS → a loopback API
 * server serving real-shaped Node and PodList objects, through runHealthChecks.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { judgePod, selectLocalNode } from '../../src/health/kube-checks.js';
import { runHealthChecks } from '../../src/health/run.js';
import type { CheckName, HealthOptions, HealthReport } from '../../src/health/types.js';
import { DEFAULT_PATHS } from '../../src/paths.js';
import {
  adminKubeconfig,
  healthyCluster,
  nodeObject,
  podObject,
  startKubeApi,
  type KubeApi,
  type KubeconfigSpec,
} from '../helpers/kube-api.js';
import { useKubeApi } from '../helpers/kube-api-fixture.js';
import { silentLogger } from '../../src/log.js';
import { assertCode } from '../helpers/code-assert.js';
import { assertVerdicts } from '../helpers/code-verdicts.js';

const cluster = useKubeApi('kube-checks-');
const dir = cluster.dir;
const root = join(dir, 'root');
mkdirSync(join(root, DEFAULT_PATHS.dataDir), { recursive: true });
let now: Date;
const KUBE: CheckName[] = ['apiserver', 'node_ready', 'kube_system'];

/** Write a kubeconfig on the device under --root; returns its device path (the config key). */
function kubeconfig(
  overrides: Partial<KubeconfigSpec> = {},
  target: KubeApi = cluster.api,
): string {
  const devicePath = `/etc/kubesolo/kc-${Math.random().toString(16).slice(2)}.yaml`;
  mkdirSync(join(root, 'etc/kubesolo'), { recursive: true });
  writeFileSync(join(root, devicePath), adminKubeconfig(target, cluster.pki, overrides));
  return devicePath;
}

async function run(extra: Partial<HealthOptions> = {}): Promise<HealthReport> {
  return runHealthChecks({
    log: silentLogger,
    root,
    required: KUBE,
    kubeconfig: { kubeconfigPath: kubeconfig(), env: {} },
    nodeName: 'edge-1',
    clock: { now: () => now },
    checkTimeoutMs: 3000,
    ...extra,
  });
}

function verdicts(r: HealthReport): Record<string, string> {
  return Object.fromEntries(r.checks.map((c) => [c.name, `${c.verdict}:${c.reason}`]));
}

beforeEach(() => {
  now = new Date();
  Object.assign(cluster.api.state, healthyCluster(now), {
    readyz: { status: 200, body: 'ok' },
    hang: false,
    beforeRequest: undefined,
  });
});

describe('Kubernetes health checks against a loopback mTLS API server', () => {
  it('healthy cluster: apiserver, node_ready and kube_system pass; the others are skipped or pass', async () => {
    const r = await run();
    assertVerdicts(verdicts(r), {
      containerd: 'skipped:NOT_REQUIRED',
      apiserver: 'pass:OK',
      node_ready: 'pass:OK',
      kube_system: 'pass:OK',
      probe_url: 'skipped:NOT_REQUIRED',
      disk_writable: 'pass:OK', // always runs
    });
    assert.equal(r.ok, true);
    assert.deepEqual(r.failed, []);
    assert.match(r.checks.find((c) => c.name === 'kube_system')!.message, /2 kube-system pods/);
    for (const c of r.checks) assert.ok(c.durationMs >= 0 && c.durationMs < 5000);
    // The checks authenticated with the client certificate from the kubeconfig.
    assert.ok(cluster.api.requests.slice(-3).every((q) => q.user === 'kubernetes-admin'));
  });

  it('node NotReady fails node_ready with the kubelet reason', async () => {
    cluster.api.state.nodes = [nodeObject('edge-1', { now, ready: 'False', readySinceSec: 20 })];
    const r = await run();
    const c = r.checks.find((x) => x.name === 'node_ready')!;
    assert.equal(c.verdict, 'fail');
    assertCode(c.reason, 'NODE_NOT_READY');
    assert.match(c.message, /Ready=False \(KubeletNotReady: container runtime network not ready/);
    assert.equal(r.ok, false);
    assert.deepEqual(r.failed, ['node_ready']);
  });

  it('node status Unknown, or no Ready condition at all, fails too', async () => {
    cluster.api.state.nodes = [nodeObject('edge-1', { now, ready: 'Unknown' })];
    assertVerdicts(verdicts(await run()).node_ready, 'fail:NODE_NOT_READY');
    cluster.api.state.nodes = [nodeObject('edge-1', { now, noReadyCondition: true })];
    const r = await run();
    assert.match(r.checks.find((x) => x.name === 'node_ready')!.message, /no Ready condition/);
  });

  it('finds the local node by host name among several, the only node otherwise, and fails when ambiguous', async () => {
    cluster.api.state.nodes = [
      nodeObject('other', { now, ready: 'False' }),
      nodeObject('edge-1', { now }),
    ];
    assertVerdicts(verdicts(await run({ nodeName: 'EDGE-1' })).node_ready, 'pass:OK');
    const r = await run({ nodeName: 'renamed-host' });
    assertVerdicts(verdicts(r).node_ready, 'fail:NODE_NOT_FOUND');
    assert.match(r.checks.find((x) => x.name === 'node_ready')!.message, /other, edge-1/);
    cluster.api.state.nodes = [nodeObject('edge-1', { now })];
    const only = await run({ nodeName: 'renamed-host' });
    assertVerdicts(verdicts(only).node_ready, 'pass:OK');
    assert.match(only.checks.find((x) => x.name === 'node_ready')!.message, /the only node/);
  });

  it('a crash-looping pod in back-off fails kube_system (not ready)', async () => {
    cluster.api.state.pods.push(
      podObject('metrics-server-6f4c6675d5-8m2xl', {
        now,
        readyForSec: 95,
        containers: [{ name: 'metrics-server', state: 'crashloop', restartCount: 6 }],
      }),
    );
    const r = await run();
    const c = r.checks.find((x) => x.name === 'kube_system')!;
    assertCode(c.reason, 'KUBE_SYSTEM_POD_NOT_READY');
    assert.match(
      c.message,
      /metrics-server-6f4c6675d5-8m2xl: metrics-server CrashLoopBackOff restarts=6/,
    );
  });

  it('a crash-looping pod caught while Running again (Ready flipped 4 s ago) fails as not stable', async () => {
    // Running and ready right now, but its container restarted moments ago: the pod's
    // own Ready lastTransitionTime and startedAt say so, whatever the agent waited.
    cluster.api.state.pods.push(
      podObject('coredns-7b98449c4-zz9xq', {
        now,
        readyForSec: 4,
        containers: [{ name: 'coredns', restartCount: 7 }],
      }),
    );
    const r = await run();
    const c = r.checks.find((x) => x.name === 'kube_system')!;
    assertCode(c.reason, 'KUBE_SYSTEM_NOT_STABLE');
    assert.match(c.message, /coredns-7b98449c4-zz9xq: ready for 4 s < 30 s \(restarts=7\)/);
  });

  it('a container that restarted recently fails even if the Ready condition is old', async () => {
    cluster.api.state.pods = [
      podObject('coredns-7b98449c4-x2k9p', {
        now,
        readyForSec: 600,
        containers: [{ name: 'coredns', restartCount: 1, startedSec: 3 }],
      }),
    ];
    assertVerdicts(verdicts(await run()).kube_system, 'fail:KUBE_SYSTEM_NOT_STABLE');
  });

  it('a pod Running for only 10 s fails with the default 30 s and passes with health_stable_seconds=5', async () => {
    cluster.api.state.pods.push(
      podObject('local-path-provisioner-5cf85fd84d-new01', { now, readyForSec: 10 }),
    );
    const r = await run();
    assertVerdicts(verdicts(r).kube_system, 'fail:KUBE_SYSTEM_NOT_STABLE');
    assert.match(r.checks.find((x) => x.name === 'kube_system')!.message, /ready for 10 s < 30 s/);
    assertVerdicts(verdicts(await run({ stableSeconds: 5 })).kube_system, 'pass:OK');
  });

  it('Pending pods and an empty kube-system fail; finished Job pods are ignored', async () => {
    cluster.api.state.pods.push(
      podObject('helm-install-traefik-abcde', { now, phase: 'Succeeded', ownerKind: 'Job' }),
    );
    assertVerdicts(verdicts(await run()).kube_system, 'pass:OK');
    cluster.api.state.pods.push(
      podObject('coredns-7b98449c4-pend1', {
        now,
        phase: 'Pending',
        containers: [{ name: 'coredns', state: 'creating' }],
      }),
    );
    assertVerdicts(verdicts(await run()).kube_system, 'fail:KUBE_SYSTEM_POD_NOT_RUNNING');
    cluster.api.state.pods = [];
    assertVerdicts(verdicts(await run()).kube_system, 'fail:KUBE_SYSTEM_EMPTY');
  });

  it('API server not ready: /readyz 500 fails apiserver with the failed checks', async () => {
    cluster.api.state.readyz = {
      status: 500,
      body: '[+]ping ok\n[-]poststarthook/start-apiextensions-controllers failed: reason withheld\nreadyz check failed\n',
    };
    const r = await run();
    const c = r.checks.find((x) => x.name === 'apiserver')!;
    assertCode(c.reason, 'APISERVER_NOT_READY');
    assert.match(c.message, /HTTP 500: \[-\]poststarthook\/start-apiextensions-controllers failed/);
  });

  it('API server down: every Kubernetes check fails with KUBE_UNREACHABLE', async () => {
    const down = await startKubeApi({ pki: cluster.pki });
    const path = kubeconfig({}, down);
    await down.close();
    const r = await run({ kubeconfig: { kubeconfigPath: path, env: {} } });
    assertVerdicts(verdicts(r).apiserver, 'fail:KUBE_UNREACHABLE');
    assertVerdicts(verdicts(r).node_ready, 'fail:KUBE_UNREACHABLE');
    assertVerdicts(verdicts(r).kube_system, 'fail:KUBE_UNREACHABLE');
    assert.deepEqual(r.failed, KUBE);
  });

  it('wrong CA in the kubeconfig: every Kubernetes check fails with KUBE_TLS, nothing reaches the server', async () => {
    const before = cluster.api.requests.length;
    const r = await run({
      kubeconfig: { kubeconfigPath: kubeconfig({ caData: cluster.pki.otherCaCert }), env: {} },
    });
    for (const name of KUBE) assertVerdicts(verdicts(r)[name], 'fail:KUBE_TLS');
    assert.equal(cluster.api.requests.length, before);
  });

  it('expired client certificate: KUBE_AUTH', async () => {
    const path = kubeconfig({
      certData: cluster.pki.expiredClientCert,
      keyData: cluster.pki.expiredClientKey,
    });
    const r = await run({ kubeconfig: { kubeconfigPath: path, env: {} } });
    for (const name of KUBE) assertVerdicts(verdicts(r)[name], 'fail:KUBE_AUTH');
  });

  // The lower bound shows the deadline was waited for; the test's timeout catches a hang.
  it(
    'an API server that hangs fails at the check deadline (KUBE_TIMEOUT)',
    { timeout: 30_000 },
    async () => {
      cluster.api.state.hang = true;
      const t0 = performance.now();
      const r = await run({ checkTimeoutMs: 300 });
      assert.ok(performance.now() - t0 >= 250);
      for (const name of KUBE) assertVerdicts(verdicts(r)[name], 'fail:KUBE_TIMEOUT');
    },
  );

  it('no kubeconfig anywhere: the required Kubernetes checks fail with KUBECONFIG_NOT_FOUND', async () => {
    const r = await runHealthChecks({
      log: silentLogger,
      root,
      required: KUBE,
      kubeconfig: { env: {} },
    });
    for (const name of KUBE) assertVerdicts(verdicts(r)[name], 'fail:KUBECONFIG_NOT_FOUND');
  });

  it('a broken kubeconfig fails them with KUBECONFIG_INVALID', async () => {
    // Through KUBECONFIG this time: a host path, not resolved under --root.
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'current-context: nowhere\n');
    const r = await run({ kubeconfig: { env: { KUBECONFIG: bad } } });
    for (const name of KUBE) assertVerdicts(verdicts(r)[name], 'fail:KUBECONFIG_INVALID');
  });
});

describe('judgePod rules', () => {
  const t = new Date('2026-11-25T12:00:00Z');
  const ms = t.getTime();

  it('ignores terminating pods and finished pods of controllers, but not a bare Failed pod', () => {
    const evicted = podObject('coredns-7b98449c4-evict', { now: t, phase: 'Failed' });
    assert.equal(judgePod(evicted, ms, 30).ignored, true);
    const bare = podObject('static-thing', { now: t, phase: 'Failed' });
    bare.metadata.ownerReferences = [];
    bare.status!.reason = 'Evicted';
    const judged = judgePod(bare, ms, 30);
    assertCode(judged.problem, 'KUBE_SYSTEM_POD_NOT_RUNNING');
    assert.deepEqual(judged, {
      pod: 'static-thing',
      problem: 'KUBE_SYSTEM_POD_NOT_RUNNING',
      detail: 'phase Failed (Evicted)',
    });
    const going = podObject('coredns-7b98449c4-bye00', { now: t });
    going.metadata.deletionTimestamp = t.toISOString();
    assert.equal(judgePod(going, ms, 30).ignored, true);
  });

  it('treats missing or unparsable timestamps and a Ready condition in the future as not stable', () => {
    const p = podObject('coredns-7b98449c4-x2k9p', { now: t });
    p.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime = 'yesterday';
    assertCode(judgePod(p, ms, 30).problem, 'KUBE_SYSTEM_NOT_STABLE');
    const future = podObject('coredns-7b98449c4-x2k9p', {
      now: new Date(ms + 60_000),
      readyForSec: 0,
    });
    const j = judgePod(future, ms, 30);
    assertCode(j.problem, 'KUBE_SYSTEM_NOT_STABLE');
    assert.match(j.detail, /ready for 0 s/);
  });

  it('a Running pod with a ready container but a False Ready condition, or no containers, is not ready', () => {
    const p = podObject('coredns-7b98449c4-x2k9p', { now: t });
    p.status!.conditions!.find((c) => c.type === 'Ready')!.status = 'False';
    assertCode(judgePod(p, ms, 30).problem, 'KUBE_SYSTEM_POD_NOT_READY');
    p.status!.containerStatuses = [];
    assert.match(judgePod(p, ms, 30).detail, /Ready=False/);
  });

  it('exactly N seconds is stable', () => {
    const p = podObject('coredns-7b98449c4-x2k9p', { now: t, readyForSec: 30 });
    assert.equal(judgePod(p, ms, 30).problem, undefined);
    assertCode(judgePod(p, ms - 1000, 30).problem, 'KUBE_SYSTEM_NOT_STABLE');
  });

  it('selectLocalNode matches the kubernetes.io/hostname label too', () => {
    const n = nodeObject('edge-1', { now: t });
    n.metadata.name = 'edge-1.example.internal';
    const other = nodeObject('b', { now: t });
    assert.equal(selectLocalNode([other, n], 'Edge-1')?.node, n);
    assert.equal(selectLocalNode([], 'x'), undefined);
  });
});
