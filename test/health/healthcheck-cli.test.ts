/**
 * `kubesolo-update healthcheck` through the real agent bundle on a simulated device
 * (--root with dir slots, a grub-editenv GRUB environment, GRUB's boot rules from
 * src/bootenv/grub-sim.ts) with every check live: containerd's gRPC socket under
 * --root, the mTLS Kubernetes API server reached through the default kubeconfig path,
 * a probe URL, and the data directory.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { DEFAULT_PATHS } from '../../src/paths.js';
import { logLines, runAgent } from '../helpers/cli.js';
import {
  makeKeys,
  makeSignedDevice,
  publishRelease,
  readJson,
  serveDir,
  type Device,
  type StaticServer,
} from '../helpers/device.js';
import { adminKubeconfig, healthyCluster, nodeObject, podObject } from '../helpers/kube-api.js';
import { useKubeApi } from '../helpers/kube-api-fixture.js';
import { grubEnv } from '../helpers/grub-env.js';
import { startContainerdStub } from './containerd-stub.js';
import { assertCode } from '../helpers/code-assert.js';
import { assertVerdicts } from '../helpers/code-verdicts.js';
import { assertCommittedBoot } from '../helpers/device-fixture.js';

const keys = makeKeys();
const cluster = useKubeApi('hc-cli-');
const work = cluster.dir;
let releases: StaticServer;
let probe: Server;
let probeUrl: string;
let dev: Device;
let containerd: Http2Server | undefined;

async function agent(args: string[], env: NodeJS.ProcessEnv = {}) {
  // KUBECONFIG from the test runner's environment must not leak into the device.
  const r = await runAgent([...args, '--root', dev.root], { env: { KUBECONFIG: '', ...env } });
  const doc =
    args.includes('--json') && r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, any>) : {};
  return { ...r, doc };
}

/** containerd's socket under --root, answering Version like containerd 1.7. */
async function startContainerd(): Promise<void> {
  containerd = await startContainerdStub(dev.path('run/containerd/containerd.sock'));
}

before(async () => {
  await mkdir(join(work, 'releases'));
  releases = await serveDir(join(work, 'releases'));
  await publishRelease(join(work, 'releases'), { version: 'v1.1.0', keys, architecture: 'amd64' });
  probe = createHttpServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/healthz`;
});
after(async () => {
  await releases.close();
  probe.closeAllConnections();
  probe.close();
});
beforeEach(async () => {
  Object.assign(cluster.api.state, healthyCluster(new Date()), {
    readyz: { status: 200, body: 'ok' },
    beforeRequest: undefined,
  });
  dev = await makeSignedDevice(releases, keys, {
    healthcheck_url: probeUrl,
    health_stable_seconds: '2',
  });
  // KubeSolo's admin kubeconfig at its default place under --root.
  await mkdir(dev.path(dirname(DEFAULT_PATHS.kubeconfig)), { recursive: true });
  await writeFile(dev.path(DEFAULT_PATHS.kubeconfig), adminKubeconfig(cluster.api, cluster.pki));
  await startContainerd();
});
afterEach(async () => {
  containerd?.close();
  containerd = undefined;
  await dev.cleanup();
});

/** apply + activate + reboot into B: the situation healthcheck exists for. */
async function updateAndReboot(): Promise<void> {
  const a = await agent(['apply', '--activate', '--json']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(await dev.reboot(), 'B');
}

describe('kubesolo-update healthcheck', () => {
  it('healthy after the reboot into B: all six checks pass, B is committed, GRUB keeps it', async () => {
    await updateAndReboot();
    const r = await agent(['healthcheck', '--json', '--timeout', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.ok, true);
    assert.equal(r.doc.action, 'committed');
    assert.deepEqual(
      (r.doc.checks as { name: string; verdict: string }[]).map((c) => `${c.name}:${c.verdict}`),
      [
        'containerd:pass',
        'apiserver:pass',
        'node_ready:pass',
        'kube_system:pass',
        'probe_url:pass',
        'disk_writable:pass',
      ],
    );
    for (const c of r.doc.checks as { duration_ms: number; reason: string }[]) {
      assertCode(c.reason, 'OK');
      assert.equal(typeof c.duration_ms, 'number');
    }
    assertCommittedBoot(dev, 'B');
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.phase, 'success');
    assert.equal(st.health_check_failures, 0);
    // Committed: B survives any number of reboots.
    for (let i = 0; i < 4; i++) assert.equal(await dev.reboot(), 'B');
    const s = await agent(['status', '--json']);
    assert.equal(s.doc.state.phase, 'success');
    assert.equal(s.doc.boot_success, true);
  });

  it('node NotReady: exit 5 and failures counted; at --auto-rollback-after 2, rolled back with the failed checks, --reboot reboots', async () => {
    await updateAndReboot();
    cluster.api.state.nodes = [nodeObject('edge-1', { now: new Date(), ready: 'False' })];
    const first = await agent([
      'healthcheck',
      '--json',
      '--timeout',
      '0',
      '--auto-rollback-after',
      '2',
    ]);
    assert.equal(first.code, 5, first.stderr);
    assert.equal(first.doc.action, 'failure_counted');
    assert.equal(first.doc.health_check_failures, 1);
    assertCode(first.doc.error.code, 'HEALTH_CHECK_FAILED');
    const nodeCheck = (
      first.doc.checks as { name: string; verdict: string; reason: string; message: string }[]
    ).find((c) => c.name === 'node_ready')!;
    assertVerdicts(`${nodeCheck.verdict}:${nodeCheck.reason}`, 'fail:NODE_NOT_READY');
    assert.match(nodeCheck.message, /KubeletNotReady/);
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'B', 'no rollback before N');
    let st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.deepEqual(
      [st.phase, st.health_check_failures, st.reason],
      ['activated', 1, 'HEALTH_CHECK_FAILED'],
    );

    const marker = join(work, `rebooted-${Date.now()}`);
    const second = await agent(
      ['healthcheck', '--json', '--timeout', '0', '--auto-rollback-after', '2', '--reboot'],
      { KUBESOLO_UPDATE_REBOOT_COMMAND: `touch ${marker}` },
    );
    assert.equal(second.code, 5, second.stderr);
    assert.equal(second.doc.action, 'rolled_back');
    assert.equal(second.doc.reboot_required, true);
    assert.ok(existsSync(marker), 'the reboot command ran');
    assertCommittedBoot(dev, 'A');
    st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.phase, 'rolled_back');
    assertCode(st.reason, 'HEALTH_CHECK_FAILED');
    assert.match(String(st.last_error), /2 time\(s\) in a row: node_ready \(NODE_NOT_READY\)/);
    // After the reboot A runs, and the record still says why.
    assert.equal(await dev.reboot(), 'A');
    const s = await agent(['status', '--json']);
    assert.equal(s.doc.running_slot, 'A');
    assertCode(s.doc.state.reason, 'HEALTH_CHECK_FAILED');
  });

  it('without --reboot a rollback says a reboot is needed (human output)', async () => {
    await updateAndReboot();
    cluster.api.state.readyz = { status: 500, body: '[-]etcd failed: reason withheld\n' };
    const r = await agent(['healthcheck', '--timeout', '0', '--auto-rollback-after', '1']);
    assert.equal(r.code, 5);
    assert.match(r.stdout, /apiserver\s+fail\s+APISERVER_NOT_READY/);
    assert.match(
      r.stdout,
      /rolled back to slot A\. A reboot is needed to run it \(or pass --reboot\)/,
    );
    const warned = logLines(r.stderr).find((l) => l.code === 'REBOOT_REQUIRED');
    assertCode(warned?.code, 'REBOOT_REQUIRED', 5, r.stderr);
  });

  it('retries until healthy: a kube-system pod that just became ready passes once its own timestamps are 2 s old', async () => {
    await updateAndReboot();
    // The pod becomes ready when the agent first looks (whatever its start-up took), so
    // the first attempt always sees it fresh and only a later one can pass.
    let placed = false;
    cluster.api.state.beforeRequest = (path) => {
      if (placed || !path.endsWith('/pods')) return;
      placed = true;
      cluster.api.state.pods.push(
        podObject('coredns-7b98449c4-fresh', { now: new Date(), readyForSec: 0 }),
      );
    };
    const t0 = Date.now();
    const r = await agent(['healthcheck', '--json', '--timeout', '30', '--interval', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.action, 'committed');
    assert.ok(r.doc.attempts >= 2, `attempts ${r.doc.attempts}`);
    assert.ok(Date.now() - t0 >= 1000);
    assert.ok(
      logLines(r.stderr).some(
        (l) =>
          l.msg === 'health checks not passing yet' &&
          JSON.stringify(l.failed).includes('KUBE_SYSTEM_NOT_STABLE'),
      ),
    );
  });

  it('gives up at --timeout with exit 5 while a pod keeps crash-looping', async () => {
    await updateAndReboot();
    cluster.api.state.pods.push(
      podObject('metrics-server-6f4c6675d5-8m2xl', {
        now: new Date(),
        containers: [{ name: 'metrics-server', state: 'crashloop', restartCount: 9 }],
      }),
    );
    const t0 = Date.now();
    const r = await agent(['healthcheck', '--json', '--timeout', '2', '--interval', '1']);
    assert.equal(r.code, 5);
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(r.doc.action, 'failure_counted');
    assert.ok(r.doc.attempts >= 2);
    const ks = (r.doc.checks as { name: string; reason: string }[]).find(
      (c) => c.name === 'kube_system',
    )!;
    assertCode(ks.reason, 'KUBE_SYSTEM_POD_NOT_READY');
  });

  it('not after an activation: only reports, writes no state, touches no GRUB variable', async () => {
    const before = await readFile(dev.path('boot/grub/grubenv'));
    containerd?.close();
    containerd = undefined;
    const r = await agent(['healthcheck', '--json', '--timeout', '0']);
    assert.equal(r.code, 5);
    assert.equal(r.doc.action, 'reported');
    assert.match(r.doc.note, /phase idle/);
    const c = (r.doc.checks as { name: string; reason: string }[]).find(
      (x) => x.name === 'containerd',
    )!;
    assertCode(c.reason, 'CONTAINERD_UNREACHABLE');
    assert.equal(existsSync(dev.path('var/lib/kubesolo/update/state.json')), false);
    assert.deepEqual(await readFile(dev.path('boot/grub/grubenv')), before);
    // A device without Kubernetes commits on what it has (health_checks=disk_writable).
    const ok = await agent([
      'healthcheck',
      '--json',
      '--timeout',
      '0',
      '--health-checks',
      'disk_writable',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(
      (ok.doc.checks as { verdict: string }[]).filter((x) => x.verdict === 'skipped').length,
      5,
    );
  });

  it('activated but not rebooted yet: healthy, yet nothing is committed', async () => {
    assert.equal((await agent(['apply', '--activate', '--json'])).code, 0);
    const r = await agent(['healthcheck', '--json', '--timeout', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.action, 'reported');
    assert.match(r.doc.note, /not booted yet/);
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).boot_success, '0');
  });

  it('refuses bad options with exit 2', async () => {
    assert.equal((await agent(['healthcheck', '--timeout', '-1'])).code, 2);
    assert.equal((await agent(['healthcheck', '--health-checks', 'node-ready'])).code, 2);
    assert.equal((await agent(['healthcheck', '--auto-rollback-after', '0'])).code, 2);
  });
});
