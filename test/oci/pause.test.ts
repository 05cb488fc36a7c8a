/**
 * `push --pause` / `--resume` (issue 25, item 8) against the real reference registry: the
 * live release's latest.json layer is signed again with `paused`, the images' layers are
 * untouched, and a device that staged the release does not activate it until it is
 * resumed.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { goArch } from '../../src/metadata/arch.js';
import { putManifest } from '../../src/release/oci-registry-push.js';
import { OciClient } from '../../src/transport/oci/client.js';
import { LAYER_METADATA, OCI_MANIFEST } from '../../src/transport/oci/media-types.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';
import { expectRefusal, runAgentJson, runRelease } from '../helpers/cli.js';
import { makeDevice, readJson, type Device } from '../helpers/device.js';
import { grubEnv } from '../helpers/grub-env.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { assertCode } from '../helpers/code-assert.js';

describe('push --pause and --resume', { skip: registrySkipReason() }, () => {
  let reg: TestRegistry;
  let tmp: string;
  let dev: Device;
  const arch = goArch();
  const where = () => ['--registry', `${reg.host}/kubesolo/os`, '--tag', 'v1.1.0', '--arch', arch];
  const agent = (...args: string[]) =>
    runAgentJson([
      ...args,
      '--root',
      dev.root,
      '--registry',
      `${reg.host}/kubesolo/os`,
      '--tag',
      'v1.1.0',
    ]);

  before(async () => {
    reg = await startRegistry();
    tmp = await mkdtemp(join(tmpdir(), 'ks-oci-pause-'));
    assert.equal((await runRelease(['keygen', '--out', join(tmp, 'keys')])).code, 0);
    await writeFile(join(tmp, 'vmlinuz'), randomBytes(70_000));
    await writeFile(join(tmp, 'kubesolo-os.gz'), randomBytes(150_000));
    const push = await runRelease([
      'push',
      ...where(),
      '--release-version',
      'v1.1.0',
      '--kernel',
      join(tmp, 'vmlinuz'),
      '--initramfs',
      join(tmp, 'kubesolo-os.gz'),
      '--key',
      join(tmp, 'keys/release.key'),
    ]);
    assert.equal(push.code, 0, push.stderr);
    dev = await makeDevice({ config: { pubkey: '/etc/kubesolo/update.pub' } });
    await copyFile(join(tmp, 'keys/release.pub'), dev.path('etc/kubesolo/update.pub'));
    execFileSync('grub-editenv', [dev.path('boot/grub/grubenv'), 'create']);
  });
  after(async () => {
    await reg?.stop();
    await dev?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('a staged release paused in the registry is not activated; resumed, it is', async () => {
    assert.equal((await agent('apply')).code, 0);
    const pause = await runRelease([
      'push',
      '--pause',
      ...where(),
      '--key',
      join(tmp, 'keys/release.key'),
      '--json',
    ]);
    assert.equal(pause.code, 0, pause.stderr);
    const paused = JSON.parse(pause.stdout) as { paused: boolean; version: string };
    assert.deepEqual([paused.paused, paused.version], [true, 'v1.1.0']);
    const refused = await agent('activate');
    assert.equal(refused.code, 3, refused.stderr);
    assertCode(refused.doc.error.code, 'ROLLOUT_PAUSED', 3);
    assert.equal((await readJson(dev.path('var/lib/kubesolo/update/state.json'))).phase, 'staged');
    const resume = await runRelease([
      'push',
      '--resume',
      ...where(),
      '--key',
      join(tmp, 'keys/release.key'),
    ]);
    assert.equal(resume.code, 0, resume.stderr);
    const act = await agent('activate');
    assert.equal(act.code, 0, act.stderr);
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'B');
  });

  it('a release without a latest.json layer (annotations only) cannot be paused this way', async () => {
    const client = new OciClient({
      log: silentLogger,
      ref: parseRegistryReference(`${reg.host}/kubesolo/os`),
      actions: ['pull', 'push'],
    });
    const m = (await client.getManifest(`v1.1.0-${arch}`)).json as {
      layers: { mediaType: string }[];
    };
    m.layers = m.layers.filter((l) => l.mediaType !== LAYER_METADATA);
    await putManifest(client, `bare-${arch}`, OCI_MANIFEST, Buffer.from(JSON.stringify(m)));
    const r = await runRelease([
      'push',
      '--pause',
      ...['--registry', `${reg.host}/kubesolo/os`, '--tag', 'bare', '--arch', arch],
      ...['--key', join(tmp, 'keys/release.key')],
    ]);
    expectRefusal(r, 'OCI_NO_METADATA_LAYER', 2);
  });

  it('--resume takes no release to publish', async () => {
    const r = await runRelease(['push', '--resume', ...where(), '--release-version', 'v1.1.0']);
    expectRefusal(r, 'CONFLICTING_OPTIONS', 2);
  });
});
