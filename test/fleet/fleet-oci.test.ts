/**
 * Fleet safety over an OCI registry through the real binaries (issue 18): `kubesolo-release
 * push` writes `expires` (30 days by default), `rollout` and `min_version` into the signed
 * latest.json layer of the real reference registry (docker-registry on loopback), and the
 * agent following `--registry/--tag` applies waves, the floor, expiry and the secure default
 * exactly as over HTTP.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { goArch } from '../../src/metadata/arch.js';
import { readDeviceId } from '../../src/fleet/device-id.js';
import { rolloutBucket } from '../../src/fleet/rollout.js';
import { LAYER_METADATA, OCI_MANIFEST } from '../../src/transport/oci/media-types.js';
import { runRelease, expectRefusal } from '../helpers/cli.js';
import { readJson, type Device } from '../helpers/device.js';
import { agentFromRegistry, makeDeviceTrusting, pushBuild } from '../helpers/oci-agent.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { assertCode } from '../helpers/code-assert.js';

const skip = registrySkipReason();
const HOUR = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('fleet safety over an OCI registry, through the binaries', { skip }, () => {
  let reg: TestRegistry;
  let tmp: string;
  let dev: Device;
  const arch = goArch();
  const repo = () => `${reg.host}/kubesolo/os`;

  before(async () => {
    reg = await startRegistry();
    tmp = await mkdtemp(join(tmpdir(), 'ks-fleet-oci-'));
    for (const dir of ['keys', 'keys-new']) {
      const kg = await runRelease(['keygen', '--out', join(tmp, dir)]);
      assert.equal(kg.code, 0, kg.stderr);
    }
  });
  after(async () => {
    await reg?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });
  beforeEach(async () => {
    dev = await makeDeviceTrusting(join(tmp, 'keys/release.pub'));
  });
  afterEach(async () => {
    await dev?.cleanup();
  });

  async function push(tag: string, extra: string[] = [], key = join(tmp, 'keys/release.key')) {
    await writeFile(join(tmp, 'vmlinuz'), randomBytes(40_000));
    await writeFile(join(tmp, 'kubesolo-os.gz'), randomBytes(90_000));
    const r = await pushBuild(repo(), tag, tmp, { version: tag.split('-')[0]!, key, extra });
    assert.equal(r.code, 0, r.stderr);
  }

  function agent(cmd: string, tag: string, extra: string[] = []) {
    return agentFromRegistry(dev, repo(), cmd, tag, extra);
  }

  /** The latest.json layer of TAG-ARCH, as pushed. */
  async function metadataLayer(tag: string): Promise<Record<string, any>> {
    const manifest = (await (
      await fetch(`${reg.url}/v2/kubesolo/os/manifests/${tag}-${arch}`, {
        headers: { accept: OCI_MANIFEST },
      })
    ).json()) as { layers: { mediaType: string; digest: string }[] };
    const layer = manifest.layers.find((l) => l.mediaType === LAYER_METADATA)!;
    return (await (
      await fetch(`${reg.url}/v2/kubesolo/os/blobs/${layer.digest}`)
    ).json()) as Record<string, any>;
  }

  it('push writes expires (30 days by default) into the signed metadata; an expired release is refused', async () => {
    await push('v1.1.0');
    const md = await metadataLayer('v1.1.0');
    const days = (Date.parse(md.expires) - Date.now()) / (24 * HOUR);
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
    await push('v1.1.1', ['--no-expiry']);
    assert.equal((await metadataLayer('v1.1.1')).expires, undefined);

    await push('v1.1.2', ['--expires-in', '1s']);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const a = await agent('apply', 'v1.1.2');
    expectRefusal(a, 'METADATA_EXPIRED', 4);
  });

  it('waves: a device outside the open wave waits (ROLLOUT_NOT_OPEN), --force overrides', async () => {
    let bucket = -1;
    for (let i = 0; bucket < 5 || bucket > 94; i++) {
      await writeFile(
        dev.path('etc/machine-id'),
        `${i.toString(16).padStart(8, '0')}${'cd'.repeat(12)}\n`,
      );
      const id = await readDeviceId({
        machineId: dev.path('etc/machine-id'),
        stored: dev.path('var/lib/kubesolo/update/device-id'),
      });
      bucket = rolloutBucket(id!.id, 'v1.2.0');
    }
    await push('v1.2.0', [
      '--rollout-start',
      iso(Date.now() - HOUR),
      '--wave',
      `${bucket}@0s`,
      '--wave',
      '100@1d',
    ]);
    assert.deepEqual((await metadataLayer('v1.2.0')).rollout.waves, [
      { percent: bucket, after: '0s' },
      { percent: 100, after: '1d' },
    ]);
    const c = await agent('check', 'v1.2.0');
    assert.equal(c.code, 3, c.stderr);
    const gate = (c.doc.gates as { gate: string; code?: string; message: string }[]).find(
      (g) => g.gate === 'rollout',
    );
    assertCode(gate?.code, 'ROLLOUT_NOT_OPEN');
    assert.match(
      gate.message,
      new RegExp(`wave 2 of 2 \\(100 %\\) opens .*; this device is in bucket ${bucket}$`),
    );
    const a = await agent('apply', 'v1.2.0');
    expectRefusal(a, 'ROLLOUT_NOT_OPEN', 3);
    const forced = await agent('apply', 'v1.2.0', ['--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.doc.outcome, 'staged');
  });

  it('floor: a signed min_version raises it; a lower release is then refused (BELOW_FLOOR)', async () => {
    await push('v1.4.0', ['--min-version', 'v1.3.0']);
    const a = await agent('apply', 'v1.4.0');
    assert.equal(a.code, 0, a.stderr);
    const floor = await readJson(dev.path('var/lib/kubesolo/update/floor.json'));
    assert.equal(floor.version, 'v1.3.0');
    assert.equal(floor.source, 'min_version');
    await push('v1.2.5');
    const below = await agent('apply', 'v1.2.5');
    expectRefusal(below, 'BELOW_FLOOR', 3);
  });

  it('key rotation: a key set trusts old and new, a retired key is refused', async () => {
    const newKey = join(tmp, 'keys-new/release.key');
    const pub = async (dir: string) =>
      (await readFile(join(tmp, dir, 'release.pub'), 'utf8')).trim();
    await push('v1.5.0', [], newKey);
    const early = await agent('apply', 'v1.5.0');
    expectRefusal(early, 'SIGNATURE_INVALID', 4);
    // The release that shipped the new key (signed by the old one) is in: both trusted.
    await writeFile(
      dev.path('etc/kubesolo/update.pub'),
      `${await pub('keys')}\n${await pub('keys-new')}\n`,
    );
    const both = await agent('apply', 'v1.5.0');
    assert.equal(both.code, 0, both.stderr);
    assert.equal(both.doc.outcome, 'staged');
    // Retired: only the new key; a release signed by the old key is refused.
    await writeFile(dev.path('etc/kubesolo/update.pub'), `${await pub('keys-new')}\n`);
    await push('v1.6.0');
    const retired = await agent('apply', 'v1.6.0');
    expectRefusal(retired, 'SIGNATURE_INVALID', 4);
  });

  it('secure by default: a device with no key refuses a registry release (PUBKEY_REQUIRED, exit 2)', async () => {
    await push('v1.1.0');
    await dev.writeConfig({
      slot_backend: 'dir',
      slot_a_dir: '/slots/a',
      slot_b_dir: '/slots/b',
      grubenv: '/boot/grub/grubenv',
    });
    const a = await agent('apply', 'v1.1.0');
    expectRefusal(a, 'PUBKEY_REQUIRED', 2);
    assert.equal(await readFile(dev.path('slots/b/version'), 'utf8').catch(() => 'none'), 'none');
  });
});
