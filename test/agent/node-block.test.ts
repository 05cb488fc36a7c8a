/**
 * The node label gate (`updates.kubesolo.io/block=true`) against a loopback HTTPS
 * server playing the Kubernetes API with mTLS (test/helpers/kube-api.ts), through the
 * real agent bundle.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { runAgent } from '../helpers/cli.js';
import {
  makeDevice,
  makeKeys,
  publishRelease,
  readJson,
  useReleaseServer,
  type Device,
} from '../helpers/device.js';
import {
  adminKubeconfig,
  makePki,
  nodeObject,
  startKubeApi,
  type KubeApi,
} from '../helpers/kube-api.js';
import { useTempDir } from '../helpers/tree.js';
import { assertCode } from '../helpers/code-assert.js';

describe('node block label gate', () => {
  const keys = makeKeys();
  const tmp = useTempDir('ks-nodeblock-', 'all');
  const fixture = useReleaseServer();
  let api: KubeApi;
  let dev: Device;

  before(async () => {
    const pki = makePki(tmp.path('pki'));
    const node = nodeObject(hostname(), { now: new Date() });
    node.metadata.labels = { ...node.metadata.labels, 'updates.kubesolo.io/block': 'true' };
    api = await startKubeApi({ pki, state: { nodes: [node] } });
    dev = await makeDevice({
      config: { server: fixture.server.url, pubkey: '/etc/kubesolo/update.pub' },
    });
    await writeFile(dev.path('etc/kubesolo/update.pub'), keys.publicHex + '\n');
    await mkdir(dev.path('var/lib/kubesolo/pki/admin'), { recursive: true });
    await writeFile(
      dev.path('var/lib/kubesolo/pki/admin/admin.kubeconfig'),
      adminKubeconfig(api, pki),
    );
    execFileSync('grub-editenv', [dev.path('boot/grub/grubenv'), 'create']);
    await publishRelease(fixture.dir, { version: 'v1.1.0', keys });
  });
  after(async () => {
    await api?.close();
    await dev?.cleanup();
  });

  it('a labelled node refuses apply (exit 3, NODE_UPDATE_BLOCKED); check shows it', async () => {
    const c = await runAgent(['check', '--root', dev.root, '--json']);
    assert.equal(c.code, 3, c.stderr);
    const { gates } = JSON.parse(c.stdout) as {
      gates: { gate: string; pass: boolean; code: string }[];
    };
    const gate = gates.find((g) => g.gate === 'node_block')!;
    assert.equal(gate.pass, false);
    assertCode(gate.code, 'NODE_UPDATE_BLOCKED');

    const r = await runAgent(['apply', '--root', dev.root, '--json']);
    assert.equal(r.code, 3, r.stderr);
    assertCode(JSON.parse(r.stdout).error.code, 'NODE_UPDATE_BLOCKED');
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.phase, 'failed');
    assertCode(st.reason, 'NODE_UPDATE_BLOCKED');
    // This node, read by name (src/kube/node-name.ts): what the pods' account may do.
    assert.ok(
      api.requests.some(
        (q) => q.path === `/api/v1/nodes/${hostname().toLowerCase()}` && q.user !== 'rejected',
      ),
      JSON.stringify(api.requests.map((q) => q.path)),
    );
  });

  it('--force skips the label', async () => {
    const r = await runAgent(['apply', '--force', '--root', dev.root, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).outcome, 'staged');
  });
});
