/**
 * Hostile registry content against the real reference registry: each case must fail
 * with its own reason code and exit code, and leave nothing staged.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { putManifest } from '../../src/release/oci-registry-push.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/transport/oci/media-types.js';
import { architectureGate } from '../../src/gates/gates.js';
import { registrySkipReason } from '../helpers/registry.js';
import { makeKeys, useRegistry, sha256, type RawManifest, type ReleaseFiles } from './fixtures.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';

const skip = registrySkipReason();

/** Files in the staging dir other than hidden bookkeeping; a refused update leaves none complete. */
function stagedFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => n === 'vmlinuz' || n === 'kubesolo-os.gz');
}

describe('OCI hostile cases (docker-registry)', { skip }, () => {
  const fx = useRegistry();
  let files: ReleaseFiles;
  let other: ReleaseFiles;
  const keys = makeKeys();
  const otherKeys = makeKeys();

  const push = (
    repo: string,
    tag: string,
    arch: string,
    opts: { sign?: boolean; f?: ReleaseFiles } = {},
  ) =>
    fx.push(repo, tag, opts.f ?? files, {
      architecture: arch,
      channel: 'stable',
      ...(opts.sign === false ? {} : { signingKey: keys.privateKey }),
    });
  const source = (repo: string, tag: string, extra: Record<string, unknown> = {}) =>
    fx.source(repo, tag, { publicKey: keys.publicKey, ...extra });

  before(() => {
    files = fx.files('hostile');
    other = fx.files('other', 100_001, 200_003);
  });

  it('a layer whose bytes do not match its digest: HASH_MISMATCH, exit 4, nothing staged', async () => {
    // Own files: blob storage is shared by all repositories of the registry.
    const f = fx.files('corrupt', 1000, 70_001);
    await push('corrupt/os', 'v1.0.0', 'amd64', { f });
    const data = fx.reg.blobDataPath(`sha256:${sha256(f.initramfs)}`);
    const tampered = Buffer.from(readFileSync(data));
    tampered[1000] = tampered[1000]! ^ 0xff; // same length, one byte changed
    writeFileSync(data, tampered);
    const src = source('corrupt/os', 'v1.0.0');
    const release = await src.fetchRelease();
    const stagingDir = join(fx.work, 'corrupt');
    const err = await rejectsWithCode(
      src.stage(release, 'initramfs', { stagingDir }),
      'HASH_MISMATCH',
      4,
    );
    assert.ok(err.message.length > 0);
    assert.deepEqual(stagedFiles(stagingDir), []);
  });

  it('a longer layer than its descriptor declares is cut off: exit 4, nothing staged', async () => {
    const f = fx.files('longer', 5000, 1000);
    await push('longer/os', 'v1.0.0', 'amd64', { f });
    const data = fx.reg.blobDataPath(`sha256:${sha256(f.kernel)}`);
    writeFileSync(data, Buffer.concat([f.kernel, Buffer.alloc(4096, 1)]));
    const src = source('longer/os', 'v1.0.0');
    const release = await src.fetchRelease();
    const stagingDir = join(fx.work, 'longer');
    await rejectsWithCode(src.stage(release, 'vmlinuz', { stagingDir }), 'DOWNLOAD_TOO_LARGE', 4);
    assert.deepEqual(stagedFiles(stagingDir), []);
  });

  // Before: fetchRelease threw ARCH_MISMATCH, so `check` could not show it as a gate.
  // Now the release says what it is for and the architecture gate refuses it.
  it('an index without this architecture: the release names arm64, the gate says ARCH_MISMATCH', async () => {
    await push('armonly/os', 'v1.0.0', 'arm64');
    const release = await source('armonly/os', 'v1.0.0').fetchRelease();
    assert.equal(release.metadata.architecture, 'arm64');
    const verdict = architectureGate('amd64', release.metadata.architecture);
    assert.equal(verdict.pass, false);
    assertCode(verdict.code, 'ARCH_MISMATCH');
  });

  it('a single manifest for another architecture (arch tag): the release names arm64', async () => {
    const release = await source('armonly/os', 'v1.0.0-arm64').fetchRelease();
    assert.equal(release.metadata.architecture, 'arm64');
  });

  it('an index entry that claims amd64 for an arm64 manifest: OCI_METADATA_MISMATCH, exit 4 (the artifact contradicts itself)', async () => {
    const pushed = await push('liar/os', 'v1.0.0', 'arm64');
    const c = fx.client('liar/os');
    const armManifest = await c.getManifest(pushed.manifestDigest);
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: pushed.manifestDigest,
          size: armManifest.bytes.length,
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    };
    await putManifest(c, 'lying', OCI_INDEX, Buffer.from(JSON.stringify(index)));
    const err = await rejectsWithCode(
      source('liar/os', 'lying').fetchRelease(),
      'OCI_METADATA_MISMATCH',
      4,
    );
    assert.deepEqual([...(err.details.named as string[])].sort(), ['amd64', 'arm64']);
  });

  it('a missing layer: OCI_BLOB_NOT_FOUND, exit 1, nothing staged', async () => {
    await push('missing/os', 'v1.0.0', 'amd64');
    const src = source('missing/os', 'v1.0.0');
    const release = await src.fetchRelease();
    // Delete the layer through the registry API (storage.delete.enabled in the config).
    const res = await request(
      `${fx.reg.url}/v2/missing/os/blobs/sha256:${sha256(files.initramfs)}`,
      {
        method: 'DELETE',
      },
    );
    await res.body.dump();
    assert.equal(res.statusCode, 202);
    const stagingDir = join(fx.work, 'missing');
    await rejectsWithCode(src.stage(release, 'initramfs', { stagingDir }), 'OCI_BLOB_NOT_FOUND', 1);
    assert.deepEqual(stagedFiles(stagingDir), []);
  });

  it('a missing metadata layer fails fetchRelease: OCI_BLOB_NOT_FOUND, exit 1', async () => {
    const pushed = await push('missing-meta/os', 'v1.0.0', 'amd64');
    const manifest = await fx.client('missing-meta/os').getManifest(pushed.manifestDigest);
    const meta = (manifest.json as { layers: { digest: string }[] }).layers[2]!.digest;
    const res = await request(`${fx.reg.url}/v2/missing-meta/os/blobs/${meta}`, {
      method: 'DELETE',
    });
    await res.body.dump();
    await rejectsWithCode(
      source('missing-meta/os', 'v1.0.0').fetchRelease(),
      'OCI_BLOB_NOT_FOUND',
      1,
    );
  });

  it('an unsigned artifact with a key configured: SIGNATURE_MISSING, exit 4', async () => {
    await push('unsigned/os', 'v1.0.0', 'amd64', { sign: false });
    await rejectsWithCode(source('unsigned/os', 'v1.0.0').fetchRelease(), 'SIGNATURE_MISSING', 4);
    // allow_unsigned_metadata still needs both image signatures (docs/design.md §3.4).
    await rejectsWithCode(
      source('unsigned/os', 'v1.0.0', { allowUnsignedMetadata: true }).fetchRelease(),
      'SIGNATURE_MISSING',
      4,
    );
    // Without a key the same artifact is accepted (and logged as unauthenticated).
    const release = await source('unsigned/os', 'v1.0.0', {
      publicKey: undefined,
      allowUnsigned: true,
    }).fetchRelease();
    assert.equal(release.metadataSigned, false);
  });

  it('an artifact signed by another key: SIGNATURE_INVALID, exit 4', async () => {
    await push('signed/os', 'v1.0.0', 'amd64');
    await rejectsWithCode(
      source('signed/os', 'v1.0.0', { publicKey: otherKeys.publicKey }).fetchRelease(),
      'SIGNATURE_INVALID',
      4,
    );
  });

  it('a manifest annotation that contradicts the signed latest.json: OCI_METADATA_MISMATCH, exit 4', async () => {
    const pushed = await push('annot/os', 'v1.0.0', 'amd64');
    const c = fx.client('annot/os');
    const m = (await c.getManifest(pushed.manifestDigest)).json as RawManifest;
    m.annotations['io.kubesolo.os.min_compatible_version'] = 'v0.0.1';
    m.annotations['io.kubesolo.os.channel'] = 'edge';
    await putManifest(c, 'tampered', OCI_MANIFEST, Buffer.from(JSON.stringify(m)));
    await rejectsWithCode(
      source('annot/os', 'tampered').fetchRelease(),
      'OCI_METADATA_MISMATCH',
      4,
    );
  });

  it('layers swapped under a signed latest.json: OCI_METADATA_MISMATCH, exit 4', async () => {
    const a = await push('swap/os', 'v1.0.0', 'amd64');
    const b = await push('swap/os', 'v2.0.0', 'amd64', { f: other });
    const c = fx.client('swap/os');
    const ma = (await c.getManifest(a.manifestDigest)).json as RawManifest;
    const mb = (await c.getManifest(b.manifestDigest)).json as RawManifest;
    // v2's kernel and initramfs under v1's signed metadata layer.
    ma.layers[0] = mb.layers[0]!;
    ma.layers[1] = mb.layers[1]!;
    await putManifest(c, 'swapped', OCI_MANIFEST, Buffer.from(JSON.stringify(ma)));
    await rejectsWithCode(source('swap/os', 'swapped').fetchRelease(), 'OCI_METADATA_MISMATCH', 4);
  });

  it('allow_unsigned_metadata with signed images: accepted, and a bad image signature is refused at stage', async () => {
    const pushed = await push('imgsig/os', 'v1.0.0', 'amd64');
    const c = fx.client('imgsig/os');
    const m = (await c.getManifest(pushed.manifestDigest)).json as RawManifest;
    m.layers = m.layers.slice(0, 2); // drop the metadata layer: unsigned metadata
    await putManifest(c, 'nometa', OCI_MANIFEST, Buffer.from(JSON.stringify(m)));
    const src = source('imgsig/os', 'nometa', { allowUnsignedMetadata: true });
    const release = await src.fetchRelease();
    assert.equal(release.metadataSigned, false);
    const ok = await src.stage(release, 'vmlinuz', { stagingDir: join(fx.work, 'imgsig') });
    assert.equal(ok.signatureVerified, true);

    // Now the initramfs signature is replaced by one over other bytes.
    const sig = m.layers[0]!.annotations['io.kubesolo.os.signature']!;
    m.layers[1]!.annotations['io.kubesolo.os.signature'] = sig;
    await putManifest(c, 'badsig', OCI_MANIFEST, Buffer.from(JSON.stringify(m)));
    const src2 = source('imgsig/os', 'badsig', { allowUnsignedMetadata: true });
    const r2 = await src2.fetchRelease();
    const stagingDir = join(fx.work, 'badsig');
    await rejectsWithCode(src2.stage(r2, 'initramfs', { stagingDir }), 'SIGNATURE_INVALID', 4);
    assert.deepEqual(stagedFiles(stagingDir), []);
  });

  it('a tag that does not exist: OCI_MANIFEST_NOT_FOUND, exit 1', async () => {
    await rejectsWithCode(
      source('signed/os', 'v9.9.9').fetchRelease(),
      'OCI_MANIFEST_NOT_FOUND',
      1,
    );
  });
});
