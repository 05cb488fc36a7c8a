/**
 * Push a release with pushRelease and pull it back with createOciUpdateSource,
 * against the real reference registry (docker-registry), anonymous; cross-checked
 * with a second client (skopeo).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pushRelease } from '../../src/release/oci-push.js';
import { createOciUpdateSource } from '../../src/transport/oci/source.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';

const run = promisify(execFile);
const skip = registrySkipReason();

function rawPublicKey(key: ReturnType<typeof generateKeyPairSync>['publicKey']): Buffer {
  return key.export({ type: 'spki', format: 'der' }).subarray(12);
}

async function skopeoRaw(ref: string): Promise<unknown> {
  const { stdout } = await run('skopeo', [
    'inspect',
    '--raw',
    '--tls-verify=false',
    `docker://${ref}`,
  ]);
  return JSON.parse(stdout);
}

describe('OCI push and pull against docker-registry', { skip }, () => {
  let reg: TestRegistry;
  let dir: string;
  let kernel: Buffer;
  let initramfs: Buffer;
  const keys = generateKeyPairSync('ed25519');

  before(async () => {
    reg = await startRegistry();
    dir = mkdtempSync(join(tmpdir(), 'ks-oci-'));
    kernel = Buffer.alloc(300_000, 7);
    kernel.write('kernel', 0);
    initramfs = Buffer.alloc(500_001, 3);
    initramfs.write('initramfs', 0);
    writeFileSync(join(dir, 'vmlinuz'), kernel);
    writeFileSync(join(dir, 'kubesolo-os.gz'), initramfs);
  });
  after(async () => {
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('pushes an index and per-arch manifest that skopeo reads back, and the agent pulls it', async () => {
    const result = await pushRelease({
      registry: `${reg.host}/kubesolo/os`,
      tag: 'v0.3.0',
      kernelPath: join(dir, 'vmlinuz'),
      initramfsPath: join(dir, 'kubesolo-os.gz'),
      version: 'v0.3.0',
      architecture: 'amd64',
      channel: 'stable',
      signingKey: keys.privateKey,
    });
    const index = (await skopeoRaw(`${reg.host}/kubesolo/os:v0.3.0`)) as any;
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0].digest, result.manifestDigest);
    const manifest = (await skopeoRaw(`${reg.host}/kubesolo/os:v0.3.0-amd64`)) as any;
    assert.equal(
      manifest.layers[0].digest,
      'sha256:' + createHash('sha256').update(kernel).digest('hex'),
    );

    const source = createOciUpdateSource({
      registry: `${reg.host}/kubesolo/os`,
      tag: 'v0.3.0',
      architecture: 'amd64',
      publicKey: rawPublicKey(keys.publicKey),
    });
    const release = await source.fetchRelease();
    assert.equal(release.metadata.version, 'v0.3.0');
    assert.equal(release.metadataSigned, true);
    const staged = await source.stage(release, 'initramfs', { stagingDir: join(dir, 'staging') });
    assert.deepEqual(readFileSync(staged.path), initramfs);
    assert.equal(staged.signatureVerified, true);
  });
});
