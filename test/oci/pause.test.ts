/**
 * `push --pause` / `--resume` (issue 25, item 8) against the real reference registry: the
 * live release's latest.json layer is signed again with `paused`, the images' layers are
 * untouched, and a device that staged the release does not activate it until it is
 * resumed.
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { goArch } from '../../src/metadata/arch.js';
import { putManifest } from '../../src/release/oci-registry-push.js';
import { OciClient } from '../../src/transport/oci/client.js';
import { LAYER_METADATA, OCI_MANIFEST } from '../../src/transport/oci/media-types.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';
import { expectRefusal, runAgentJson, runRelease } from '../helpers/cli.js';
import { readJson, type Device } from '../helpers/device.js';
import { grubEnv } from '../helpers/grub-env.js';
import { useOciRelease } from '../helpers/oci-release.js';
import { registrySkipReason } from '../helpers/registry.js';
import { assertCode } from '../helpers/code-assert.js';

describe('push --pause and --resume', { skip: registrySkipReason() }, () => {
  const release = useOciRelease();
  let dev: Device;
  const arch = goArch();
  const key = () => release.path('keys/release.key');
  /** The release the device follows and the publisher pauses and resumes. */
  const release110 = () => ['--registry', release.repository, '--tag', 'v1.1.0'];
  const where = () => [...release110(), '--arch', arch];
  const agent = (...args: string[]) => runAgentJson([...args, '--root', dev.root, ...release110()]);

  before(async () => {
    await release.push('v1.1.0', ['--arch', arch, '--release-version', 'v1.1.0', '--key', key()]);
    dev = await release.device();
  });

  it('a staged release paused in the registry is not activated; resumed, it is', async () => {
    assert.equal((await agent('apply')).code, 0);
    const pause = await runRelease(['push', '--pause', ...where(), '--key', key(), '--json']);
    assert.equal(pause.code, 0, pause.stderr);
    const paused = JSON.parse(pause.stdout) as { paused: boolean; version: string };
    assert.deepEqual([paused.paused, paused.version], [true, 'v1.1.0']);
    const refused = await agent('activate');
    assert.equal(refused.code, 3, refused.stderr);
    assertCode(refused.doc.error.code, 'ROLLOUT_PAUSED', 3);
    assert.equal((await readJson(dev.path('var/lib/kubesolo/update/state.json'))).phase, 'staged');
    const resume = await runRelease(['push', '--resume', ...where(), '--key', key()]);
    assert.equal(resume.code, 0, resume.stderr);
    const act = await agent('activate');
    assert.equal(act.code, 0, act.stderr);
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'B');
  });

  it('a release without a latest.json layer (annotations only) cannot be paused this way', async () => {
    const client = new OciClient({
      log: silentLogger,
      ref: parseRegistryReference(release.repository),
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
      ...['--registry', release.repository, '--tag', 'bare', '--arch', arch],
      ...['--key', key()],
    ]);
    expectRefusal(r, 'OCI_NO_METADATA_LAYER', 2);
  });

  it('--resume takes no release to publish', async () => {
    const r = await runRelease(['push', '--resume', ...where(), '--release-version', 'v1.1.0']);
    expectRefusal(r, 'CONFLICTING_OPTIONS', 2);
  });
});
