import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parsePublicKey, publicKeyObject } from '../../src/crypto/keys.js';
import { generateKeyPair } from '../../src/release/keys.js';
import {
  publishRelease,
  type PublishedLatestJson,
  type PublishStep,
} from '../../src/release/publish.js';
import { verifyBytes } from '../../src/release/sign.js';
import { hasCode } from '../helpers/rejects.js';
import { useImageFiles } from './image-files.js';

/** The agent's public key format, read by the one key codec, as a KeyObject for verifyBytes. */
const parsePublicKeyHex = (text: string) => publicKeyObject(parsePublicKey(text));

const files = useImageFiles('ks-publish-', Buffer.alloc(10_000, 7), Buffer.alloc(25_000, 9));
const key = generateKeyPair();
const clock = { now: () => new Date('2026-11-25T12:00:00.123Z') };

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const pub = parsePublicKeyHex(key.publicKeyHex);

async function readRelease(out: string) {
  const bytes = await readFile(join(out, 'latest.json'));
  const meta = JSON.parse(bytes.toString()) as PublishedLatestJson;
  return { bytes, meta };
}

/** Every invariant a device relies on: signatures and hashes match the files served. */
async function assertConsistent(out: string): Promise<PublishedLatestJson> {
  const { bytes, meta } = await readRelease(out);
  const sigOf = async (rel: string) =>
    Buffer.from((await readFile(join(out, rel), 'utf8')).trim(), 'hex');
  assert.ok(verifyBytes(pub, bytes, await sigOf(meta.metadata_sig_url)), 'metadata signature');
  for (const [url, sigUrl, hash, size] of [
    [meta.vmlinuz_url, meta.vmlinuz_sig_url, meta.vmlinuz_sha256, meta.vmlinuz_size],
    [meta.initramfs_url, meta.initramfs_sig_url, meta.initramfs_sha256, meta.initramfs_size],
  ] as const) {
    const data = await readFile(join(out, url));
    assert.equal(sha(data), hash);
    assert.equal(data.length, size);
    assert.ok(verifyBytes(pub, data, await sigOf(sigUrl)), `${url} signature`);
  }
  return meta;
}

/** What every publish here is given: the key, the two images, OUT and the clock. */
const options = (out: string) => ({
  key: key.privateKey,
  imagePaths: { vmlinuz: files.kernel, initramfs: files.initramfs },
  outDir: out,
  clock,
});

/** A publish interrupted (a crash, as good as) when it reaches `step`. */
const crashAt =
  (step: PublishStep) =>
  (s: PublishStep): void => {
    if (s === step) throw new Error(`crash at ${s}`);
  };

describe('publish', () => {
  it('lays out a versioned release with every docs/design.md §3.3 field, relative URLs and signatures', async () => {
    const out = files.path('out1');
    const r = await publishRelease({
      ...options(out),
      version: 'v0.3.1',
      channel: 'stable',
      architecture: 'amd64',
      minCompatibleVersion: 'v0.2.0',
      releaseNotes: 'Fixes',
      expiresInSeconds: 30 * 86_400,
    });
    const meta = await assertConsistent(out);
    assert.deepEqual(meta, r.metadata);
    // Per image: the file, its hash, size and signature, and its delta index, written by
    // default and pinned like the image (docs/delta.md).
    const imageFields: Record<string, unknown> = {};
    for (const [field, file, bytes] of [
      ['vmlinuz', 'vmlinuz', Buffer.alloc(10_000, 7)],
      ['initramfs', 'kubesolo-os.gz', Buffer.alloc(25_000, 9)],
    ] as const) {
      const index = await readFile(join(out, 'v0.3.1', `${file}.index`));
      Object.assign(imageFields, {
        [`${field}_url`]: `v0.3.1/${file}`,
        [`${field}_sha256`]: sha(bytes),
        [`${field}_sig_url`]: `v0.3.1/${file}.sig`,
        [`${field}_size`]: bytes.length,
        [`${field}_index_url`]: `v0.3.1/${file}.index`,
        [`${field}_index_sha256`]: sha(index),
        [`${field}_index_size`]: index.length,
      });
    }
    assert.deepEqual(meta, {
      version: 'v0.3.1',
      ...imageFields,
      metadata_sig_url: 'v0.3.1/latest.json.sig',
      release_date: '2026-11-25T12:00:00Z',
      release_notes: 'Fixes',
      channel: 'stable',
      min_compatible_version: 'v0.2.0',
      architecture: 'amd64',
      expires: '2026-12-25T12:00:00Z',
    });
    // The conventional top-level signature is the same signature.
    assert.equal(
      await readFile(join(out, 'latest.json.sig'), 'utf8'),
      await readFile(join(out, 'v0.3.1', 'latest.json.sig'), 'utf8'),
    );
    // No temp folders left behind.
    assert.deepEqual((await readdir(out)).sort(), ['latest.json', 'latest.json.sig', 'v0.3.1']);
    assert.equal(r.publicKeyHex, key.publicKeyHex);
  });

  it('writes absolute URLs under --base-url', async () => {
    const r = await publishRelease({
      ...options(files.path('out2')),
      version: 'v1.0.0+build.7',
      baseUrl: 'https://updates.example.test/kubesolo',
    });
    assert.equal(
      r.metadata.vmlinuz_url,
      'https://updates.example.test/kubesolo/v1.0.0%2Bbuild.7/vmlinuz',
    );
    assert.equal(
      r.metadata.metadata_sig_url,
      'https://updates.example.test/kubesolo/v1.0.0%2Bbuild.7/latest.json.sig',
    );
    assert.equal(r.metadata.expires, undefined);
    assert.equal(r.metadata.channel, undefined);
  });

  it('keeps older versions, refuses to republish one without force, replaces it with force', async () => {
    const out = files.path('out3');
    const base = options(out);
    await publishRelease({ ...base, version: 'v1.0.0' });
    await publishRelease({ ...base, version: 'v2.0.0' });
    assert.equal((await assertConsistent(out)).version, 'v2.0.0');
    assert.ok((await readdir(out)).includes('v1.0.0'));
    await assert.rejects(
      publishRelease({ ...base, version: 'v2.0.0' }),
      hasCode('VERSION_EXISTS', 2),
    );
    const other = files.path('other-kernel');
    await writeFile(other, 'a different kernel');
    await publishRelease({
      ...base,
      version: 'v2.0.0',
      imagePaths: { ...base.imagePaths, vmlinuz: other },
      force: true,
    });
    const meta = await assertConsistent(out);
    assert.equal(meta.vmlinuz_size, 'a different kernel'.length);
  });

  it('a publish that fails at any step leaves the previous release consistent and served', async () => {
    const steps: PublishStep[] = ['staged', 'version-in-place'];
    for (const at of steps) {
      const out = files.path(`crash-${at}`);
      const base = options(out);
      await publishRelease({ ...base, version: 'v1.0.0' });
      const before = await readFile(join(out, 'latest.json'));
      await assert.rejects(
        publishRelease({
          ...base,
          version: 'v2.0.0',
          onStep: crashAt(at),
        }),
        hasCode('PUBLISH_FAILED', 1),
      );
      assert.deepEqual(await readFile(join(out, 'latest.json')), before, at);
      assert.equal((await assertConsistent(out)).version, 'v1.0.0');
      assert.deepEqual(
        (await readdir(out)).sort(),
        ['latest.json', 'latest.json.sig', 'v1.0.0'],
        at,
      );
    }
  });

  it('a failed --force republish restores the old version folder', async () => {
    const out = files.path('crash-force');
    const base = options(out);
    await publishRelease({ ...base, version: 'v1.0.0' });
    for (const at of ['staged', 'version-in-place'] as const) {
      await assert.rejects(
        publishRelease({
          ...base,
          version: 'v1.0.0',
          imagePaths: { vmlinuz: files.kernel, initramfs: files.kernel },
          force: true,
          onStep: crashAt(at),
        }),
        hasCode('PUBLISH_FAILED', 1),
      );
      const meta = await assertConsistent(out);
      assert.equal(meta.initramfs_size, 25_000, at);
    }
  });

  it('once latest.json is renamed the new release is complete, even if the last copy fails', async () => {
    const out = files.path('crash-after');
    const base = options(out);
    await publishRelease({ ...base, version: 'v1.0.0' });
    await assert.rejects(
      publishRelease({
        ...base,
        version: 'v2.0.0',
        onStep: crashAt('metadata-in-place'),
      }),
      hasCode('PUBLISH_FAILED', 1),
    );
    // metadata_sig_url points into the version folder, so the release verifies anyway.
    assert.equal((await assertConsistent(out)).version, 'v2.0.0');
  });

  it('rejects bad input before touching the output', async () => {
    const out = files.path('bad');
    const base = { ...options(out), version: 'v1.0.0' };
    const cases: [Partial<Parameters<typeof publishRelease>[0]>, string][] = [
      [{ version: '../evil' }, 'INVALID_VERSION'],
      [{ version: '.hidden' }, 'INVALID_VERSION'],
      [{ version: 'a/b' }, 'INVALID_VERSION'],
      [{ channel: 'no spaces' }, 'INVALID_CHANNEL'],
      [{ architecture: 'x86-64' }, 'INVALID_ARCH'],
      [{ baseUrl: 'ftp://x/' }, 'INVALID_BASE_URL'],
      [{ baseUrl: 'https://user:pw@x/' }, 'INVALID_BASE_URL'],
      [{ baseUrl: 'not a url' }, 'INVALID_BASE_URL'],
      [
        { imagePaths: { vmlinuz: files.path('missing'), initramfs: files.path('missing') } },
        'INPUT_UNREADABLE',
      ],
    ];
    for (const [patch, code] of cases) {
      await assert.rejects(publishRelease({ ...base, ...patch }), hasCode(code, 2), code);
    }
    await assert.rejects(readdir(out), { code: 'ENOENT' });
  });
});
