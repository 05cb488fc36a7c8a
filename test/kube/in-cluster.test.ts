/**
 * The agent in a pod: the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, the
 * projected token and CA in the service account's directory), against the loopback API
 * server authorizing exactly what deploy/kubernetes/rbac.yaml grants. The token expires
 * and the kubelet replaces it: a long-lived client follows the file.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runHealthChecks } from '../../src/health/run.js';
import { silentLogger } from '../../src/log.js';
import { findKubeconfig, loadKubeClient } from '../../src/kube/index.js';
import { KubeError } from '../../src/kube/errors.js';
import { VERSION } from '../../src/version.js';
import {
  adminKubeconfig,
  healthyCluster,
  makePki,
  startKubeApi,
  type KubeApi,
  type Pki,
} from '../helpers/kube-api.js';
import { grantsOf, KUBERNETES_DIR, loadManifests } from '../helpers/manifests.js';
import { assertVerdicts } from '../helpers/code-verdicts.js';
import { rejectsWithCode } from '../helpers/rejects.js';

const SA_USER = 'system:serviceaccount:kubesolo-update:kubesolo-update';
const token = () => randomBytes(24).toString('base64url');

describe('in-cluster service account, least privilege from the manifests', () => {
  let dir: string;
  let pki: Pki;
  let api: KubeApi;
  let saDir: string;
  let env: Record<string, string>;
  let current: string;

  /** Replace the token the way the kubelet does: a new timestamped dir, `..data` swapped atomically. */
  function rotate(): string {
    const next = token();
    const gen = join(saDir, `..${Date.now()}_${randomBytes(4).toString('hex')}`);
    mkdirSync(gen);
    writeFileSync(join(gen, 'token'), next);
    writeFileSync(join(gen, 'ca.crt'), pki.caCert);
    symlinkSync(gen.slice(saDir.length + 1), join(saDir, '..data_tmp'));
    renameSync(join(saDir, '..data_tmp'), join(saDir, '..data'));
    api.state.serviceAccounts = [{ token: next, user: SA_USER }];
    return next;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ks-incluster-'));
    pki = makePki(join(dir, 'pki'));
    const manifests = [...(await loadManifests(KUBERNETES_DIR)).values()].flat();
    api = await startKubeApi({
      pki,
      state: { ...healthyCluster(new Date(Date.now() - 0)), grants: grantsOf(manifests) },
    });
    // The projected volume's layout: token and ca.crt are links through ..data.
    saDir = join(dir, 'serviceaccount');
    mkdirSync(saDir);
    current = rotate();
    symlinkSync('..data/token', join(saDir, 'token'));
    symlinkSync('..data/ca.crt', join(saDir, 'ca.crt'));
    env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) };
  });
  after(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const load = async (extra: Record<string, string> = {}) => {
    const c = await loadKubeClient({
      root: join(dir, 'no-root'),
      env: { ...env, ...extra },
      serviceAccountDir: saDir,
    });
    assert.ok(c, 'a client');
    return c;
  };

  it('the manifests grant exactly get on nodes and list on kube-system pods, to the agent only', async () => {
    const manifests = [...(await loadManifests(KUBERNETES_DIR)).values()].flat();
    assert.deepEqual(grantsOf(manifests), [
      { user: SA_USER, apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
      {
        user: SA_USER,
        apiGroups: [''],
        resources: ['pods'],
        verbs: ['list'],
        namespace: 'kube-system',
      },
    ]);
  });

  it('reads the server from the environment, the CA and token from the service account directory', async () => {
    const c = await load();
    try {
      assert.equal(c.server, `https://127.0.0.1:${api.port}`);
      const node = await c.getNode('edge-1');
      assert.equal(node.metadata.name, 'edge-1');
      const pods = await c.listPods('kube-system');
      assert.equal(pods.items.length, 2);
      assert.equal((await c.readyz()).ready, true);
    } finally {
      c.close();
    }
    const mine = api.requests.slice(-3);
    assert.deepEqual(
      mine.map((r) => [r.user, r.token === current]),
      [
        [SA_USER, true],
        [SA_USER, true],
        ['anonymous', false].map((v, i) => (i === 0 ? SA_USER : true)) as [string, boolean],
      ].slice(0, 3),
    );
    assert.ok(mine.every((r) => r.userAgent?.startsWith(`kubesolo-update/${VERSION} (linux; `)));
  });

  it('anything the manifests do not grant is 403 (KUBE_AUTH) with the API server Status message', async () => {
    const c = await load();
    try {
      const list = await rejectsWithCode(c.listNodes(), 'KUBE_AUTH', 1);
      assert.match(
        list.message,
        /nodes is forbidden: User "system:serviceaccount:kubesolo-update:kubesolo-update" cannot list resource "nodes" in API group "" at the cluster scope/,
      );
      const pods = await rejectsWithCode(c.listPods('default'), 'KUBE_AUTH', 1);
      assert.match(
        pods.message,
        /cannot list resource "pods" in API group "" in the namespace "default"/,
      );
      assert.equal((pods as KubeError).status, 403);
    } finally {
      c.close();
    }
  });

  it('the health checks pass with that account and the node name from the downward API', async () => {
    const seen = api.requests.length;
    const report = await runHealthChecks({
      root: join(dir, 'no-root'),
      required: ['apiserver', 'node_ready', 'kube_system'],
      nodeName: 'edge-1',
      kubeconfig: { env, serviceAccountDir: saDir },
      stableSeconds: 30,
      log: silentLogger,
    });
    // disk_writable always runs; this root has no data partition, so only the
    // Kubernetes checks are looked at.
    assertVerdicts(
      report.checks
        .filter((c) => c.name !== 'disk_writable' && c.verdict !== 'skipped')
        .map((c) => `${c.name}:${c.verdict}:${c.reason}`),
      ['apiserver:pass:OK', 'node_ready:pass:OK', 'kube_system:pass:OK'],
    );
    // node_ready read the node by name: the list is not granted.
    assert.deepEqual(
      api.requests
        .slice(seen)
        .map((r) => `${r.path} ${r.user}`)
        .sort(),
      [
        `/api/v1/namespaces/kube-system/pods ${SA_USER}`,
        `/api/v1/nodes/edge-1 ${SA_USER}`,
        `/readyz ${SA_USER}`,
      ],
    );
  });

  it('a long-lived client follows the rotated token; the expired one is refused', async () => {
    const c = await load();
    try {
      await c.getNode('edge-1');
      const old = current;
      // The API server stops accepting the old token (it expired) before the kubelet
      // has written the new one: 401.
      api.state.serviceAccounts = [];
      await rejectsWithCode(c.getNode('edge-1'), 'KUBE_AUTH', 1);
      current = rotate();
      assert.notEqual(current, old);
      await c.getNode('edge-1');
      assert.equal(api.requests.at(-1)!.token, current);
      assert.equal(api.requests.at(-1)!.user, SA_USER);
    } finally {
      c.close();
    }
  });

  it('a token file that disappears: KUBE_TOKEN_UNREADABLE, not a request without credentials', async () => {
    const c = await load();
    const before = api.requests.length;
    rmSync(join(saDir, '..data'));
    try {
      await rejectsWithCode(c.getNode('edge-1'), 'KUBE_TOKEN_UNREADABLE', 2);
      assert.equal(api.requests.length, before, 'nothing was sent');
    } finally {
      c.close();
      current = rotate();
    }
  });

  it('in a pod the service account wins over a kubeconfig; on the host the kubeconfig is used', async () => {
    const root = join(dir, 'host-root');
    mkdirSync(join(root, 'var/lib/kubesolo/pki/admin'), { recursive: true });
    writeFileSync(
      join(root, 'var/lib/kubesolo/pki/admin/admin.kubeconfig'),
      adminKubeconfig(api, pki),
    );
    const inPod = await findKubeconfig({ root, env, serviceAccountDir: saDir });
    assert.deepEqual(inPod, { path: saDir, source: 'in-cluster', rooted: false });
    // Not in a pod: no KUBERNETES_SERVICE_HOST.
    const host = await findKubeconfig({ root, env: {}, serviceAccountDir: saDir });
    assert.equal(host?.source, 'default');
    // The environment names an API server but no token is mounted: not in-cluster.
    const noToken = await findKubeconfig({ root, env, serviceAccountDir: join(dir, 'none') });
    assert.equal(noToken?.source, 'default');
  });
});
