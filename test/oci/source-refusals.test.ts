/**
 * The OCI source's checks that hostile.test.ts does not reach on their own: each case
 * changes exactly one thing, so the check under test (and not an earlier one) fires.
 * Against the real reference registry (docker-registry), as root in CI.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { putManifest } from '../../src/release/oci-registry-push.js';
import { OCI_MANIFEST } from '../../src/transport/oci/media-types.js';
import { registrySkipReason } from '../helpers/registry.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { makeKeys, useRegistry, type RawManifest, type ReleaseFiles } from './fixtures.js';

const skip = registrySkipReason();

function staged(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
}

describe('OCI source refusals, one check at a time (docker-registry)', { skip }, () => {
  const fx = useRegistry();
  let files: ReleaseFiles;
  let other: ReleaseFiles;
  const keys = makeKeys();

  const push = (repo: string, tag: string, f: ReleaseFiles, sign = true) =>
    fx.push(repo, tag, f, {
      channel: 'stable',
      ...(sign ? { signingKey: keys.privateKey } : {}),
    });
  const source = (repo: string, tag: string, publicKey: Buffer | null = keys.publicKey) =>
    fx.source(repo, tag, publicKey ? { publicKey } : { allowUnsigned: true });
  const manifestOf = async (repo: string, digest: string) =>
    (await fx.client(repo).getManifest(digest)).json as RawManifest;

  before(() => {
    files = fx.files('refusal-a', 10_001, 20_003);
    other = fx.files('refusal-b', 10_007, 20_011);
  });

  it('stage with a key refuses a release this source did not authenticate: SIGNATURE_MISSING, exit 4, nothing staged', async () => {
    await push('foreign/os', 'v1.0.0', files, false);
    // Resolved by a source without a key: unsigned, and unknown to the keyed source.
    const release = await source('foreign/os', 'v1.0.0', null).fetchRelease();
    assert.equal(release.metadataSigned, false);
    const stagingDir = join(fx.work, 'foreign');
    for (const artifact of ['vmlinuz', 'initramfs'] as const) {
      const err = await rejectsWithCode(
        source('foreign/os', 'v1.0.0').stage(release, artifact, { stagingDir }),
        'SIGNATURE_MISSING',
        4,
      );
      assert.equal(err.details.artifact, artifact);
    }
    assert.deepEqual(staged(stagingDir), []);
  });

  it('only the initramfs layer swapped under a signed latest.json: OCI_METADATA_MISMATCH on the initramfs digest, exit 4', async () => {
    const a = await push('swap-i/os', 'v1.0.0', files);
    const b = await push('swap-i/os', 'v2.0.0', other);
    const ma = await manifestOf('swap-i/os', a.manifestDigest);
    const mb = await manifestOf('swap-i/os', b.manifestDigest);
    ma.layers[1] = mb.layers[1]!; // the kernel layer stays v1's, so its check passes
    await putManifest(
      fx.client('swap-i/os'),
      'swapped',
      OCI_MANIFEST,
      Buffer.from(JSON.stringify(ma)),
    );
    const err = await rejectsWithCode(
      source('swap-i/os', 'swapped').fetchRelease(),
      'OCI_METADATA_MISMATCH',
      4,
    );
    assert.match(err.message, /the initramfs layer digest/);
    assert.equal(err.details.actual, mb.layers[1]!.digest.slice('sha256:'.length));
  });

  for (const [index, name] of [
    [0, 'kernel'],
    [1, 'initramfs'],
  ] as const) {
    it(`the ${name} layer descriptor whose size disagrees with the signed latest.json: OCI_METADATA_MISMATCH, exit 4`, async () => {
      const repo = `size-${name}/os`;
      const a = await push(repo, 'v1.0.0', files);
      const m = await manifestOf(repo, a.manifestDigest);
      const declared = m.layers[index]!.size;
      m.layers[index]!.size = declared + 1; // same digest, one byte more claimed
      await putManifest(fx.client(repo), 'resized', OCI_MANIFEST, Buffer.from(JSON.stringify(m)));
      const err = await rejectsWithCode(
        source(repo, 'resized').fetchRelease(),
        'OCI_METADATA_MISMATCH',
        4,
      );
      assert.match(err.message, new RegExp(`the ${name} layer size`));
      assert.equal(err.details.expected, declared);
      assert.equal(err.details.actual, declared + 1);
    });
  }
});
