/**
 * runHealthChecks with every check live (containerd gRPC on a Unix socket under --root,
 * the mTLS API server, a probe URL, the data directory), and the waitForHealthy retry
 * loop on a fake clock against pod timestamps that the loop cannot fake.
 */
import { strict as assert } from 'node:assert';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import {
  parseHealthChecks,
  requiredChecks,
  runHealthChecks,
  waitForHealthy,
} from '../../src/health/run.js';
import { CHECK_NAMES, type HealthOptions } from '../../src/health/types.js';
import { createKubeClient } from '../../src/kube/client.js';
import { loadKubeConfig } from '../../src/kube/config.js';
import type { KubeClient } from '../../src/kube/types.js';
import { DEFAULT_PATHS } from '../../src/paths.js';
import { adminKubeconfig, healthyCluster, podObject } from '../helpers/kube-api.js';
import { useKubeApi } from '../helpers/kube-api-fixture.js';
import { silentLogger } from '../../src/log.js';
import { assertVerdicts } from '../helpers/code-verdicts.js';
import { throwsWithCode } from '../helpers/rejects.js';
import { startContainerdStub } from './containerd-stub.js';

const cluster = useKubeApi('health-run-');
const dir = cluster.dir;
const root = join(dir, 'root');
let containerd: Http2Server;
let probe: Server;
let probeUrl: string;
let kube: KubeClient;
let now: Date;

before(async () => {
  await cluster.ready;
  mkdirSync(join(root, DEFAULT_PATHS.dataDir), { recursive: true });
  // The default kubeconfig location under --root, as KubeSolo writes it.
  mkdirSync(join(root, dirname(DEFAULT_PATHS.kubeconfig)), { recursive: true });
  writeFileSync(join(root, DEFAULT_PATHS.kubeconfig), adminKubeconfig(cluster.api, cluster.pki));
  kube = createKubeClient(await loadKubeConfig(join(root, DEFAULT_PATHS.kubeconfig)));
  // containerd's socket under --root, answering Version{version:"v1.7.27"}.
  containerd = await startContainerdStub(join(root, 'run/containerd/containerd.sock'));
  probe = createHttpServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/healthz`;
});
after(() => {
  kube.close();
  containerd.close();
  probe.closeAllConnections();
  probe.close();
});
beforeEach(() => {
  now = new Date();
  Object.assign(cluster.api.state, healthyCluster(now), { beforeRequest: undefined });
});

const base = (): HealthOptions => ({
  log: silentLogger,
  root,
  kubeconfig: { env: {} },
  nodeName: 'edge-1',
  probeUrl,
  clock: { now: () => now },
  checkTimeoutMs: 3000,
});

describe('runHealthChecks', () => {
  it('all six checks pass on a healthy device (default: all required)', async () => {
    const r = await runHealthChecks(base());
    assertVerdicts(
      r.checks.map((c) => `${c.name}:${c.verdict}:${c.reason}`),
      CHECK_NAMES.map((n) => `${n}:pass:OK`),
      JSON.stringify(r.checks, null, 1),
    );
    assert.equal(r.ok, true);
    assert.match(r.checks[0]!.message, /containerd v1\.7\.27/);
    assert.equal(r.startedAt, now.toISOString());
  });

  it('health_checks= limits what runs; disk_writable always runs; probe_url without a URL is skipped', async () => {
    const r = await runHealthChecks({ ...base(), probeUrl: undefined, required: ['probe_url'] });
    assertVerdicts(
      r.checks.map((c) => `${c.name}:${c.verdict}:${c.reason}`),
      [
        'containerd:skipped:NOT_REQUIRED',
        'apiserver:skipped:NOT_REQUIRED',
        'node_ready:skipped:NOT_REQUIRED',
        'kube_system:skipped:NOT_REQUIRED',
        'probe_url:skipped:NOT_CONFIGURED',
        'disk_writable:pass:OK',
      ],
    );
    assert.equal(r.ok, true);
  });

  it('a device without Kubernetes commits with health_checks=disk_writable even without a kubeconfig', async () => {
    const bare = join(dir, 'bare');
    mkdirSync(join(bare, DEFAULT_PATHS.dataDir), { recursive: true });
    const r = await runHealthChecks({
      log: silentLogger,
      root: bare,
      kubeconfig: { env: {} },
      required: ['disk_writable'],
    });
    assert.equal(r.ok, true);
    const all = await runHealthChecks({ log: silentLogger, root: bare, kubeconfig: { env: {} } });
    assert.deepEqual(all.failed, ['containerd', 'apiserver', 'node_ready', 'kube_system']);
  });

  it('uses a given client without closing it', async () => {
    const r = await runHealthChecks({ ...base(), kube, required: ['apiserver'] });
    assert.equal(r.ok, true);
    assert.equal((await kube.readyz()).ready, true);
  });

  it('parseHealthChecks accepts known names, drops blanks and duplicates, refuses typos (exit 2)', () => {
    assert.deepEqual(parseHealthChecks([' apiserver', 'disk_writable', '', 'apiserver']), [
      'apiserver',
      'disk_writable',
    ]);
    const typo = throwsWithCode(() => parseHealthChecks(['node-ready']), 'HEALTH_CHECK_UNKNOWN', 2);
    assert.ok(typo instanceof ConfigError, String(typo));
    assert.deepEqual([...requiredChecks([])], ['disk_writable']);
    assert.equal(requiredChecks(undefined).size, 6);
  });
});

describe('waitForHealthy', () => {
  /** A clock that only moves when the loop sleeps. */
  function fakeTime(start: Date) {
    let t = start.getTime();
    const sleeps: number[] = [];
    return {
      clock: { now: () => new Date(t) },
      sleep: (ms: number) => {
        sleeps.push(ms);
        t += ms;
        return Promise.resolve();
      },
      sleeps,
    };
  }

  it('a pod Running for only 10 s: fails now, passes once its own timestamps are 30 s old', async () => {
    cluster.api.state.pods.push(
      podObject('local-path-provisioner-5cf85fd84d-new01', { now, readyForSec: 10 }),
    );
    const time = fakeTime(now);
    const seen: string[] = [];
    const res = await waitForHealthy(
      { ...base(), clock: time.clock, required: ['kube_system'] },
      {
        timeoutMs: 300_000,
        intervalMs: 5000,
        clock: time.clock,
        sleep: time.sleep,
        onAttempt: (r) => seen.push(r.checks.find((c) => c.name === 'kube_system')!.reason),
      },
    );
    assert.equal(res.ok, true);
    // 10 s old at t=0; stable at t=20 s: attempts at 0, 5, 10, 15 fail, 20 passes.
    assertVerdicts(seen, [
      'KUBE_SYSTEM_NOT_STABLE',
      'KUBE_SYSTEM_NOT_STABLE',
      'KUBE_SYSTEM_NOT_STABLE',
      'KUBE_SYSTEM_NOT_STABLE',
      'OK',
    ]);
    assert.equal(res.attempts, 5);
    assert.equal(res.elapsedMs, 20_000);
  });

  it('a crash-looping pod never passes, however long the agent waits, and the loop stops at the timeout', async () => {
    const time = fakeTime(now);
    let restarts = 0;
    // Every time the agent looks, the container has just restarted again (its own
    // timestamps move with the clock), as a real crash loop's would.
    cluster.api.state.beforeRequest = (path) => {
      if (!path.endsWith('/pods')) return;
      const t = time.clock.now();
      cluster.api.state.pods = [
        ...healthyCluster(t).pods,
        podObject('coredns-7b98449c4-crash', {
          now: t,
          readyForSec: 3,
          containers: [{ name: 'coredns', restartCount: ++restarts }],
        }),
      ];
    };
    const res = await waitForHealthy(
      { ...base(), clock: time.clock, required: ['kube_system'] },
      { timeoutMs: 60_000, intervalMs: 10_000, clock: time.clock, sleep: time.sleep },
    );
    assert.equal(res.ok, false);
    assert.deepEqual(res.report.failed, ['kube_system']);
    assertVerdicts(
      res.report.checks.find((c) => c.name === 'kube_system')!.reason,
      'KUBE_SYSTEM_NOT_STABLE',
    );
    // Attempts at 0, 10, ..., 60 s (the last one at the deadline); never sleeps past it.
    assert.equal(res.attempts, 7);
    assert.equal(res.elapsedMs, 60_000);
    assert.deepEqual(time.sleeps, Array(6).fill(10_000));
  });

  it('timeout 0 runs the checks exactly once', async () => {
    cluster.api.state.readyz = { status: 500, body: '[-]etcd failed\n' };
    try {
      const time = fakeTime(now);
      const res = await waitForHealthy(
        { ...base(), required: ['apiserver'] },
        { timeoutMs: 0, clock: time.clock, sleep: time.sleep },
      );
      assert.equal(res.ok, false);
      assert.equal(res.attempts, 1);
      assert.deepEqual(time.sleeps, []);
    } finally {
      cluster.api.state.readyz = { status: 200, body: 'ok' };
    }
  });

  it('really sleeps between attempts by default', async () => {
    const t0 = performance.now();
    const res = await waitForHealthy(
      {
        ...base(),
        clock: undefined,
        required: ['apiserver'],
        kubeconfig: { env: {}, root: join(dir, 'nowhere') },
      },
      // Generous: a second attempt needs the first to end before timeout - interval,
      // which a loaded machine can stretch past a tight 150 ms.
      { timeoutMs: 3000, intervalMs: 50 },
    );
    assert.equal(res.ok, false);
    assert.ok(res.attempts >= 2, `attempts ${res.attempts}`);
    assert.ok(performance.now() - t0 >= 50);
  });
});
