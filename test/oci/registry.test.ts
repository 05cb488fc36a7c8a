/**
 * pushRelease and createOciUpdateSource against the real reference registry
 * (docker-registry, anonymous), cross-checked with independent clients: skopeo for
 * manifests, curl for blob bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rejectsWithCode } from '../helpers/rejects.js';
import { createOciUpdateSource } from '../../src/transport/oci/source.js';
import type { ProgressEvent } from '../../src/transport/source.js';
import { registrySkipReason } from '../helpers/registry.js';
import { startProxy, type MisbehavingProxy } from './proxy.js';
import {
  makeKeys,
  ociSource,
  sha256,
  skopeoRaw,
  useRegistry,
  type ReleaseFiles,
} from './fixtures.js';
import { silentLogger } from '../../src/log.js';

const run = promisify(execFile);
const skip = registrySkipReason();

describe('OCI registry round trip (docker-registry, anonymous)', { skip }, () => {
  const fx = useRegistry();
  let amd: ReleaseFiles;
  let arm: ReleaseFiles;
  const keys = makeKeys();

  before(() => {
    amd = fx.files('amd64');
    arm = fx.files('arm64', 200_001, 400_003);
  });

  it('pushes monolithically: skopeo sees the index, the manifest, layers and annotations', async () => {
    const result = await fx.push('kubesolo/os', 'v0.3.0', amd, {
      channel: 'stable',
      minCompatibleVersion: 'v0.2.0',
      releaseNotes: 'fixes',
      releaseDate: '2026-11-20T10:00:00Z',
      signingKey: keys.privateKey,
    });
    assert.equal(result.archTag, 'v0.3.0-amd64');
    assert.ok(result.blobs.every((b) => b.uploaded && b.chunks === undefined));

    const index = await skopeoRaw(`${fx.reg.host}/kubesolo/os:v0.3.0`);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.schemaVersion, 2);
    assert.deepEqual(
      index.manifests.map((m) => [m.platform.architecture, m.platform.os, m.digest]),
      [['amd64', 'linux', result.manifestDigest]],
    );
    const manifest = await skopeoRaw(`${fx.reg.host}/kubesolo/os:v0.3.0-amd64`);
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(
      manifest.layers.map((l) => [l.mediaType, l.digest, l.size]),
      [
        [
          'application/vnd.kubesolo.os.kernel.v1+octet-stream',
          `sha256:${sha256(amd.kernel)}`,
          amd.kernel.length,
        ],
        [
          'application/vnd.kubesolo.os.initramfs.v1+gzip',
          `sha256:${sha256(amd.initramfs)}`,
          amd.initramfs.length,
        ],
        [
          'application/vnd.kubesolo.os.metadata.v1+json',
          manifest.layers[2]!.digest,
          manifest.layers[2]!.size,
        ],
      ],
    );
    assert.equal(manifest.annotations['io.kubesolo.os.version']!, 'v0.3.0');
    assert.equal(manifest.annotations['io.kubesolo.os.channel']!, 'stable');
    assert.equal(manifest.annotations['io.kubesolo.os.min_compatible_version']!, 'v0.2.0');
    assert.equal(manifest.annotations['io.kubesolo.os.architecture']!, 'amd64');
    assert.equal(manifest.annotations['io.kubesolo.os.release_notes']!, 'fixes');
    assert.equal(manifest.annotations['io.kubesolo.os.release_date']!, '2026-11-20T10:00:00Z');
    assert.match(
      manifest.layers[2]!.annotations['io.kubesolo.os.metadata.signature']!,
      /^[0-9a-f]{128}$/,
    );

    // The metadata layer, fetched by curl, is a latest.json naming the layer digests,
    // and its signature verifies with openssl's independent Ed25519.
    const metaUrl = `${fx.reg.url}/v2/kubesolo/os/blobs/${manifest.layers[2]!.digest}`;
    const { stdout } = await run('curl', ['-sf', metaUrl], { encoding: 'buffer' });
    const latest = JSON.parse(stdout.toString('utf8'));
    assert.equal(latest.vmlinuz_sha256, sha256(amd.kernel));
    assert.equal(latest.initramfs_sha256, sha256(amd.initramfs));
    assert.equal(latest.architecture, 'amd64');
    const pub = join(fx.work, 'pub.pem');
    const sig = join(fx.work, 'latest.sig');
    const msg = join(fx.work, 'latest.json');
    writeFileSync(pub, createPublicKey(keys.privateKey).export({ type: 'spki', format: 'pem' }));
    writeFileSync(
      sig,
      Buffer.from(manifest.layers[2]!.annotations['io.kubesolo.os.metadata.signature']!, 'hex'),
    );
    writeFileSync(msg, stdout);
    const verified = await run('openssl', [
      'pkeyutl',
      '-verify',
      '-pubin',
      '-inkey',
      pub,
      '-rawin',
      '-in',
      msg,
      '-sigfile',
      sig,
    ]);
    assert.match(verified.stdout, /Signature Verified Successfully/);
  });

  it('pulls it: fetchRelease resolves tag → index → amd64 manifest, stage verifies the digest', async () => {
    const source = fx.source('kubesolo/os', 'v0.3.0', { publicKey: keys.publicKey });
    const release = await source.fetchRelease();
    assert.equal(release.metadataSigned, true);
    assert.match(
      release.origin,
      new RegExp(`^${fx.reg.host}/kubesolo/os:v0\\.3\\.0@sha256:[0-9a-f]{64}$`),
    );
    const m = release.metadata;
    assert.equal(m.version, 'v0.3.0');
    assert.equal(m.channel, 'stable');
    assert.equal(m.minCompatibleVersion, 'v0.2.0');
    assert.equal(m.architecture, 'amd64');
    assert.equal(m.releaseNotes, 'fixes');
    assert.equal(m.images.vmlinuz.sha256, sha256(amd.kernel));
    assert.equal(m.images.vmlinuz.size, amd.kernel.length);
    assert.equal(m.images.initramfs.sha256, sha256(amd.initramfs));
    assert.equal(
      m.images.vmlinuz.url,
      `${fx.reg.url}/v2/kubesolo/os/blobs/sha256:${sha256(amd.kernel)}`,
    );

    const events: ProgressEvent[] = [];
    const stagingDir = join(fx.work, 'a');
    for (const artifact of ['vmlinuz', 'initramfs'] as const) {
      const staged = await source.stage(release, artifact, {
        stagingDir,
        onProgress: (e) => events.push(e),
      });
      const want = artifact === 'vmlinuz' ? amd.kernel : amd.initramfs;
      assert.equal(staged.sha256, sha256(want));
      assert.equal(staged.size, want.length);
      // Signed metadata pins the layer (digest, size): its signature is not re-checked.
      assert.equal(staged.signatureVerified, false);
      assert.ok(readFileSync(staged.path).equals(want));
    }
    assert.ok(
      events.some((e) => e.artifact === 'initramfs' && e.receivedBytes === amd.initramfs.length),
    );
  });

  it('pushes in chunks: several PATCHes, same bytes, and a second arch joins the index', async () => {
    const result = await fx.push('kubesolo/os', 'v0.3.0', arm, {
      architecture: 'arm64',
      signingKey: keys.privateKey,
      uploadMode: 'chunked',
      chunkSize: 64 * 1024,
    });
    const initramfs = result.blobs.find((b) => b.name === 'kubesolo-os.gz')!;
    assert.equal(initramfs.chunks, Math.ceil(arm.initramfs.length / (64 * 1024)));
    // The empty config blob was already there from the first push: not uploaded again.
    assert.equal(result.blobs.find((b) => b.name === 'config')!.uploaded, false);

    const index = await skopeoRaw(`${fx.reg.host}/kubesolo/os:v0.3.0`);
    assert.deepEqual(
      index.manifests.map((m) => m.platform.architecture),
      ['amd64', 'arm64'],
    );
    // curl, not our client, reads the chunk-uploaded blob back.
    const url = `${fx.reg.url}/v2/kubesolo/os/blobs/sha256:${sha256(arm.initramfs)}`;
    const { stdout } = await run('curl', ['-sf', url], { encoding: 'buffer', maxBuffer: 1 << 24 });
    assert.ok(stdout.equals(arm.initramfs));

    const source = createOciUpdateSource({
      log: silentLogger,
      registry: `${fx.reg.host}/kubesolo/os:v0.3.0`,
      architecture: 'arm64',
      publicKey: keys.publicKey,
    });
    const release = await source.fetchRelease();
    assert.equal(release.metadata.images.vmlinuz.sha256, sha256(arm.kernel));
    const staged = await source.stage(release, 'vmlinuz', { stagingDir: join(fx.work, 'b') });
    assert.ok(readFileSync(staged.path).equals(arm.kernel));
  });

  it('pulls the arch-specific tag (a single manifest) for its own architecture', async () => {
    const source = fx.source('kubesolo/os', 'v0.3.0-amd64', { publicKey: keys.publicKey });
    const release = await source.fetchRelease();
    assert.equal(release.metadata.images.initramfs.sha256, sha256(amd.initramfs));
  });

  it('pulls unsigned releases when no key is configured (annotations only)', async () => {
    const plain = fx.files('plain', 1000, 2000);
    await fx.push('kubesolo/plain', 'v1.0.0', plain, { channel: 'beta' });
    const source = fx.source('kubesolo/plain', 'v1.0.0', { allowUnsigned: true });
    const release = await source.fetchRelease();
    assert.equal(release.metadataSigned, false);
    assert.equal(release.metadata.channel, 'beta');
    const staged = await source.stage(release, 'initramfs', { stagingDir: join(fx.work, 'c') });
    assert.equal(staged.signatureVerified, false);
    assert.ok(readFileSync(staged.path).equals(plain.initramfs));
    assert.deepEqual(
      readdirSync(join(fx.work, 'c'))
        .filter((n) => !n.startsWith('.'))
        .sort(),
      ['kubesolo-os.gz', 'kubesolo-os.gz.verified.json'],
    );
  });
});

describe('OCI layer download resumes after an interrupted transfer', { skip }, () => {
  const fx = useRegistry();
  let proxy: MisbehavingProxy;
  let files: ReleaseFiles;

  before(async () => {
    proxy = await startProxy(fx.reg.host);
    files = fx.files('resume', 10_000, 600_001);
    await fx.push('kubesolo/os', 'v1.0.0', files);
  });
  after(() => proxy?.stop());

  it('keeps the partial layer, then fetches only the rest with a Range request', async () => {
    const source = ociSource(proxy, 'kubesolo/os', 'v1.0.0', {
      allowUnsigned: true,
      limits: { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } },
    });
    const release = await source.fetchRelease();
    const stagingDir = join(fx.work, 'staging');
    proxy.cutBlobsAfter = 250_000;
    await rejectsWithCode(
      source.stage(release, 'initramfs', { stagingDir }),
      'DOWNLOAD_TRUNCATED',
      1,
    );
    assert.ok(!existsSync(join(stagingDir, 'kubesolo-os.gz')), 'no complete file after a cut');

    proxy.cutBlobsAfter = undefined;
    const staged = await source.stage(release, 'initramfs', { stagingDir });
    assert.ok(readFileSync(staged.path).equals(files.initramfs));
    assert.ok(staged.bytesFetched < files.initramfs.length, `fetched ${staged.bytesFetched}`);
    assert.equal(staged.bytesFetched + 250_000 >= files.initramfs.length, true);
    assert.match(proxy.blobRanges.at(-1) ?? '', /^bytes=\d+-$/);
    await source.close();
  });
});
