import { strict as assert } from 'node:assert';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { classifyTransportError, createKubeClient } from '../../src/kube/client.js';
import { loadKubeConfig } from '../../src/kube/config.js';
import { KubeError } from '../../src/kube/errors.js';
import type { KubeClient } from '../../src/kube/types.js';
import {
  adminKubeconfig,
  healthyCluster,
  kubeconfigYaml,
  startKubeApi,
  type KubeconfigSpec,
} from '../helpers/kube-api.js';
import { useKubeApi } from '../helpers/kube-api-fixture.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';

const cluster = useKubeApi('kube-client-', { state: healthyCluster(new Date()) });
const dir = cluster.dir;
let n = 0;

async function clientFor(yaml: string, timeoutMs = 5000): Promise<KubeClient> {
  const path = join(dir, `kc-${++n}.yaml`);
  writeFileSync(path, yaml);
  return createKubeClient(await loadKubeConfig(path), { timeoutMs });
}

async function rejectsWith(p: Promise<unknown>, code: string, status?: number): Promise<KubeError> {
  const err = await rejectsWithCode(p, code, 1);
  assert.ok(err instanceof KubeError, `expected KubeError, got ${String(err)}`);
  if (status !== undefined) assert.equal(err.status, status);
  return err;
}

describe('KubeClient against a loopback HTTPS API server with mTLS', () => {
  it('reads nodes, one node, pods and /readyz with the admin client certificate', async () => {
    const c = await clientFor(adminKubeconfig(cluster.api, cluster.pki));
    try {
      const nodes = await c.listNodes();
      assert.equal(nodes.kind, 'NodeList');
      assert.deepEqual(
        nodes.items.map((i) => i.metadata.name),
        ['edge-1'],
      );
      const node = await c.getNode('edge-1');
      assert.equal(node.kind, 'Node');
      assert.equal(node.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
      const pods = await c.listPods('kube-system');
      assert.equal(pods.kind, 'PodList');
      assert.equal(pods.items.length, 2);
      assert.equal(pods.items[0]?.status?.containerStatuses?.[0]?.restartCount, 0);
      assert.deepEqual((await c.listPods('default')).items, []);
      const ready = await c.readyz();
      assert.deepEqual(ready, { ready: true, status: 200, body: 'ok' });
    } finally {
      c.close();
    }
    const mine = cluster.api.requests.slice(-6);
    assert.ok(
      mine.every((r) => r.user === 'kubernetes-admin'),
      JSON.stringify(mine),
    );
    assert.equal(mine.find((r) => r.path === '/readyz')?.accept, 'text/plain');
    assert.equal(mine.find((r) => r.path === '/api/v1/nodes')?.accept, 'application/json');
  });

  it('reports a missing node as KUBE_NOT_FOUND with the API Status message', async () => {
    const c = await clientFor(adminKubeconfig(cluster.api, cluster.pki));
    const err = await rejectsWith(c.getNode('nope'), 'KUBE_NOT_FOUND', 404);
    assert.match(err.message, /nodes "nope" not found/);
    c.close();
  });

  it('returns a failing /readyz as not ready, with the failed checks in the body', async () => {
    cluster.api.state.readyz = {
      status: 500,
      body: '[-]etcd failed: reason withheld\nreadyz check failed\n',
    };
    const c = await clientFor(adminKubeconfig(cluster.api, cluster.pki));
    try {
      const r = await c.readyz();
      assert.equal(r.ready, false);
      assert.equal(r.status, 500);
      assert.match(r.body, /etcd failed/);
    } finally {
      cluster.api.state.readyz = { status: 200, body: 'ok' };
      c.close();
    }
  });

  it('refuses a server whose certificate is not signed by the kubeconfig CA (wrong CA)', async () => {
    const before = cluster.api.requests.length;
    const c = await clientFor(
      adminKubeconfig(cluster.api, cluster.pki, { caData: cluster.pki.otherCaCert }),
    );
    await rejectsWith(c.readyz(), 'KUBE_TLS');
    await rejectsWith(c.listNodes(), 'KUBE_TLS');
    c.close();
    assert.equal(cluster.api.requests.length, before, 'no request may reach an unverified server');
  });

  it('verifies TLS even without a CA in the kubeconfig (system trust store) and ignores insecure-skip-tls-verify', async () => {
    const spec: KubeconfigSpec = {
      server: cluster.api.url,
      certData: cluster.pki.clientCert,
      keyData: cluster.pki.clientKey,
      insecureSkipTlsVerify: true,
    };
    const c = await clientFor(kubeconfigYaml(spec));
    await rejectsWith(c.readyz(), 'KUBE_TLS');
    c.close();
  });

  it('checks the certificate against tls-server-name when set', async () => {
    const good = await clientFor(
      adminKubeconfig(cluster.api, cluster.pki, { tlsServerName: 'kubernetes.default.svc' }),
    );
    assert.equal((await good.readyz()).ready, true);
    good.close();
    const bad = await clientFor(
      adminKubeconfig(cluster.api, cluster.pki, { tlsServerName: 'evil.example' }),
    );
    await rejectsWith(bad.readyz(), 'KUBE_TLS');
    bad.close();
  });

  it('an expired client certificate is rejected by the server: KUBE_AUTH (401)', async () => {
    const c = await clientFor(
      adminKubeconfig(cluster.api, cluster.pki, {
        certData: cluster.pki.expiredClientCert,
        keyData: cluster.pki.expiredClientKey,
      }),
    );
    const err = await rejectsWith(c.listNodes(), 'KUBE_AUTH', 401);
    assert.match(err.message, /Unauthorized/);
    await rejectsWith(c.readyz(), 'KUBE_AUTH', 401);
    c.close();
    assert.equal(cluster.api.requests.at(-1)?.user, 'rejected');
  });

  it('a client certificate from another CA is rejected: KUBE_AUTH', async () => {
    const c = await clientFor(
      adminKubeconfig(cluster.api, cluster.pki, {
        certData: cluster.pki.foreignClientCert,
        keyData: cluster.pki.foreignClientKey,
      }),
    );
    await rejectsWith(c.getNode('edge-1'), 'KUBE_AUTH', 401);
    c.close();
  });

  it('without credentials: /readyz is public, reading nodes is forbidden (403 → KUBE_AUTH)', async () => {
    const c = await clientFor(
      kubeconfigYaml({ server: cluster.api.url, caData: cluster.pki.caCert }),
    );
    assert.equal((await c.readyz()).ready, true);
    const err = await rejectsWith(c.listNodes(), 'KUBE_AUTH', 403);
    assert.match(err.message, /system:anonymous/);
    c.close();
  });

  it('authenticates with a bearer token; a wrong token is 401', async () => {
    cluster.api.state.tokens = ['s3cret-token'];
    const good = await clientFor(
      kubeconfigYaml({
        server: cluster.api.url,
        caData: cluster.pki.caCert,
        token: 's3cret-token',
      }),
    );
    assert.equal((await good.listNodes()).items.length, 1);
    good.close();
    assert.equal(cluster.api.requests.at(-1)?.user, 'token');
    const bad = await clientFor(
      kubeconfigYaml({ server: cluster.api.url, caData: cluster.pki.caCert, token: 'wrong' }),
    );
    await rejectsWith(bad.listNodes(), 'KUBE_AUTH', 401);
    bad.close();
  });

  it('API server down: KUBE_UNREACHABLE', async () => {
    // A port that was just free: bind, note it, close.
    const probe = createTcpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = await clientFor(
      adminKubeconfig(cluster.api, cluster.pki, { server: `https://127.0.0.1:${port}` }),
    );
    await rejectsWith(c.readyz(), 'KUBE_UNREACHABLE');
    c.close();
  });

  // No wall-clock upper bound (a loaded machine stretches it): the lower bound shows the
  // deadline was waited for, and the test's own timeout catches a client that hangs.
  it(
    'a server that accepts but never answers: KUBE_TIMEOUT at the deadline',
    { timeout: 30_000 },
    async () => {
      cluster.api.state.hang = true;
      const c = await clientFor(adminKubeconfig(cluster.api, cluster.pki), 300);
      const t0 = performance.now();
      try {
        await rejectsWith(c.listPods('kube-system'), 'KUBE_TIMEOUT');
      } finally {
        cluster.api.state.hang = false;
        c.close();
      }
      const took = performance.now() - t0;
      assert.ok(took >= 250, `took ${took} ms`);
    },
  );

  /** A Node TLS server that verifies client certificates in the handshake itself. */
  async function strictServer(maxVersion: 'TLSv1.2' | 'TLSv1.3') {
    const strict = createHttpsServer(
      {
        key: cluster.pki.serverKey,
        cert: cluster.pki.serverCert,
        ca: cluster.pki.caCert,
        requestCert: true,
        rejectUnauthorized: true,
        maxVersion,
      },
      (_req, res) => res.end('ok'),
    );
    await new Promise<void>((r) => strict.listen(0, '127.0.0.1', r));
    return {
      url: `https://127.0.0.1:${(strict.address() as AddressInfo).port}`,
      close: async () => {
        strict.closeAllConnections();
        await new Promise<void>((r) => strict.close(() => r()));
      },
    };
  }

  it('a TLS 1.2 server that drops the handshake over our expired certificate: KUBE_TLS', async () => {
    const strict = await strictServer('TLSv1.2');
    try {
      const expired = await clientFor(
        adminKubeconfig(cluster.api, cluster.pki, {
          server: strict.url,
          certData: cluster.pki.expiredClientCert,
          keyData: cluster.pki.expiredClientKey,
        }),
      );
      const err = await rejectsWith(expired.readyz(), 'KUBE_TLS');
      assert.match(err.message, /client certificate/);
      expired.close();
    } finally {
      await strict.close();
    }
  });

  it('a TLS 1.3 server that requires a certificate we lack sends certificate_required: KUBE_AUTH', async () => {
    // RFC 8446 §4.4.2.4: the server aborts with a certificate_required alert.
    const strict = await strictServer('TLSv1.3');
    try {
      const none = await clientFor(
        kubeconfigYaml({ server: strict.url, caData: cluster.pki.caCert }),
      );
      await rejectsWith(none.readyz(), 'KUBE_AUTH');
      none.close();
    } finally {
      await strict.close();
    }
  });

  it('rejects malformed and oversized bodies', async () => {
    cluster.api.state.override = (path) =>
      path === '/api/v1/nodes'
        ? { status: 200, body: '<html>proxy login</html>', type: 'text/html' }
        : path === '/api/v1/namespaces/kube-system/pods'
          ? { status: 200, body: JSON.stringify({ kind: 'NodeList', items: [] }) }
          : path === '/api/v1/nodes/big'
            ? { status: 200, body: Buffer.alloc(64 * 1024, 0x20) }
            : path === '/api/v1/nodes/err'
              ? { status: 500, body: 'internal error' }
              : undefined;
    const path = join(dir, 'small.yaml');
    writeFileSync(path, adminKubeconfig(cluster.api, cluster.pki));
    const c = createKubeClient(await loadKubeConfig(path), {
      timeoutMs: 5000,
      maxResponseBytes: 16 * 1024,
    });
    try {
      await rejectsWith(c.listNodes(), 'KUBE_BAD_RESPONSE');
      await rejectsWith(c.listPods('kube-system'), 'KUBE_BAD_RESPONSE');
      await rejectsWith(c.getNode('big'), 'KUBE_RESPONSE_TOO_LARGE');
      const err = await rejectsWith(c.getNode('err'), 'KUBE_HTTP_STATUS', 500);
      assert.match(err.message, /HTTP 500/);
    } finally {
      cluster.api.state.override = undefined;
      c.close();
    }
  });

  it('talks to an IPv6 loopback server and keeps a server path prefix', async () => {
    const v6 = await startKubeApi({
      pki: cluster.pki,
      host: '::1',
      state: healthyCluster(new Date()),
    });
    try {
      const c = await clientFor(adminKubeconfig(v6, cluster.pki));
      assert.equal((await c.listNodes()).items.length, 1);
      assert.equal(c.server, v6.url);
      c.close();
      const prefixed = await clientFor(
        adminKubeconfig(v6, cluster.pki, { server: `${v6.url}/k8s/` }),
      );
      await rejectsWith(
        prefixed.readyz().then((r) => {
          if (!r.ready) throw new KubeError('KUBE_NOT_FOUND', `status ${r.status}`);
        }),
        'KUBE_NOT_FOUND',
      );
      prefixed.close();
      assert.equal(v6.requests.at(-1)?.path, '/k8s/readyz');
    } finally {
      await v6.close();
    }
  });
});

describe('classifyTransportError', () => {
  const e = (code: string) => Object.assign(new Error(code), { code });
  it('maps certificate verification codes to KUBE_TLS and received certificate alerts to KUBE_AUTH', () => {
    assertCode(classifyTransportError(e('UNABLE_TO_VERIFY_LEAF_SIGNATURE')), 'KUBE_TLS');
    assertCode(classifyTransportError(e('CERT_HAS_EXPIRED')), 'KUBE_TLS');
    assertCode(classifyTransportError(e('ERR_TLS_CERT_ALTNAME_INVALID')), 'KUBE_TLS');
    assertCode(classifyTransportError(e('ERR_SSL_WRONG_VERSION_NUMBER')), 'KUBE_TLS');
    assertCode(classifyTransportError(e('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED')), 'KUBE_AUTH');
    assertCode(classifyTransportError(e('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')), 'KUBE_AUTH');
    assertCode(classifyTransportError(e('ECONNREFUSED')), 'KUBE_UNREACHABLE');
    assertCode(classifyTransportError(e('ENOTFOUND')), 'KUBE_UNREACHABLE');
  });
});
