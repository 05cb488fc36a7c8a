/**
 * createHttpUpdateSource against real loopback servers: the trust policy of
 * docs/design.md §3.4 (fail-closed with a key), metadata limits, and staging results.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createHttpUpdateSource,
  type HttpUpdateSourceOptions,
} from '../../src/transport/http-source.js';
import type { ProgressEvent } from '../../src/transport/source.js';
import {
  sha256,
  startServer,
  staticFile,
  status,
  type TestServer,
} from '../helpers/http-server.js';
import { makeRelease, newKeys, sig, type ReleaseOptions } from './fixtures.js';
import { silentLogger } from '../../src/log.js';
import { hasCode } from '../helpers/rejects.js';

const FAST = {
  retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
  idleTimeoutMs: 2000,
  headersTimeoutMs: 2000,
};

function code(expected: string, exit: number = 4) {
  return (e: unknown): boolean => {
    return hasCode(expected, exit)(e);
  };
}

describe('HTTP update source', () => {
  let dir: string;
  let srv: TestServer | undefined;
  const keys = newKeys();
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-src-'));
  });
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(release: ReleaseOptions, extra: HttpUpdateSourceOptions | object = {}) {
    const fixture = makeRelease(release);
    srv = await startServer(fixture.routes);
    const source = createHttpUpdateSource({
      log: silentLogger,
      metadataUrl: srv.url('/latest.json'),
      limits: FAST,
      // Without a key these tests are a lab device's (allow_unsigned); with one, it is moot.
      allowUnsigned: true,
      ...extra,
    });
    return { fixture, source, server: srv };
  }

  /** Staging `artifact` of the release `source` serves is refused with `expected`; nothing is staged. */
  async function assertStageRefused(
    source: Awaited<ReturnType<typeof serve>>['source'],
    artifact: 'vmlinuz' | 'initramfs',
    expected: string,
  ): Promise<void> {
    const release = await source.fetchRelease();
    await assert.rejects(source.stage(release, artifact, { stagingDir: dir }), code(expected));
    assert.deepEqual(await readdir(dir), []);
  }

  it('without a key: hashes only; stages both files with the right digests', async () => {
    const { fixture, source } = await serve({});
    const release = await source.fetchRelease();
    assert.equal(release.metadataSigned, false);
    assert.equal(release.metadata.images.vmlinuz.url, srv!.url('/v1/vmlinuz'));
    const events: ProgressEvent[] = [];
    const v = await source.stage(release, 'vmlinuz', {
      stagingDir: dir,
      onProgress: (e) => events.push(e),
    });
    const i = await source.stage(release, 'initramfs', { stagingDir: dir });
    assert.deepEqual(await readFile(v.path), fixture.vmlinuz);
    assert.deepEqual(await readFile(i.path), fixture.initramfs);
    assert.equal(v.sha256, sha256(fixture.vmlinuz));
    assert.equal(v.signatureVerified, false);
    assert.equal(v.bytesFetched, fixture.vmlinuz.length);
    assert.deepEqual((await readdir(dir)).filter((n) => !n.endsWith('.verified.json')).sort(), [
      'kubesolo-os.gz',
      'vmlinuz',
    ]);
    assert.deepEqual(events.at(-1), {
      artifact: 'vmlinuz',
      receivedBytes: fixture.vmlinuz.length,
      totalBytes: fixture.vmlinuz.length,
    });
    await source.close();
  });

  // Signed metadata pins the images by hash; their signatures are fetched and checked
  // only when asked for (a publisher's check).
  const imageSignatureModes = [
    [
      'with a key and signed metadata: image signatures are not fetched (the metadata pins the images)',
      {},
      false,
    ],
    [
      'imageSignatures always (publisher): verifies the metadata signature and both image signatures (raw and hex)',
      { imageSignatures: 'always' },
      true,
    ],
  ] as const;
  for (const [title, options, verified] of imageSignatureModes) {
    it(title, async () => {
      const { source, server } = await serve(
        { keys, signMetadata: true, signImages: true },
        { publicKey: keys.publicKey, ...options },
      );
      const release = await source.fetchRelease();
      assert.equal(release.metadataSigned, true);
      const v = await source.stage(release, 'vmlinuz', { stagingDir: dir });
      const i = await source.stage(release, 'initramfs', { stagingDir: dir });
      assert.deepEqual([v.signatureVerified, i.signatureVerified], [verified, verified]);
      const imageSignatureRequests = server.requests.filter(
        (r) => r.path.endsWith('.sig') && !r.path.includes('latest'),
      );
      assert.equal(imageSignatureRequests.length, verified ? 2 : 0);
    });
  }

  it('with a key and signed metadata, unsigned images are accepted on their signed hashes', async () => {
    const { source } = await serve({ keys, signMetadata: true }, { publicKey: keys.raw });
    const release = await source.fetchRelease();
    const v = await source.stage(release, 'vmlinuz', { stagingDir: dir });
    assert.equal(v.signatureVerified, false);
  });

  it('with a key, unsigned metadata is refused: SIGNATURE_MISSING', async () => {
    const { source } = await serve({ keys, signImages: true }, { publicKey: keys.publicKey });
    await assert.rejects(source.fetchRelease(), code('SIGNATURE_MISSING'));
  });

  it('allow_unsigned_metadata: both image signatures become required', async () => {
    const { source } = await serve(
      { keys, signImages: true },
      { publicKey: keys.publicKey, allowUnsignedMetadata: true },
    );
    const release = await source.fetchRelease();
    assert.equal(release.metadataSigned, false);
    assert.equal(
      (await source.stage(release, 'vmlinuz', { stagingDir: dir })).signatureVerified,
      true,
    );

    await srv!.close();
    const unsignedImages = await serve(
      { keys },
      { publicKey: keys.publicKey, allowUnsignedMetadata: true },
    );
    // Refused as a whole when it is fetched (so `check` says so), before any download.
    await assert.rejects(unsignedImages.source.fetchRelease(), code('SIGNATURE_MISSING'));
    assert.deepEqual(await readdir(join(dir, 'b')).catch(() => []), []);
  });

  it('a wrong key makes the metadata signature invalid: SIGNATURE_INVALID', async () => {
    const other = newKeys();
    const { source } = await serve({ keys, signMetadata: true }, { publicKey: other.publicKey });
    await assert.rejects(source.fetchRelease(), code('SIGNATURE_INVALID'));
  });

  it('a metadata signature over another file is refused', async () => {
    const { source, server } = await serve(
      { keys, signMetadata: true },
      { publicKey: keys.publicKey },
    );
    server.route(
      '/latest.json.sig',
      staticFile(sig(Buffer.from('{"version":"v9"}'), keys.privateKey)),
    );
    await assert.rejects(source.fetchRelease(), code('SIGNATURE_INVALID'));
  });

  it('an image signature of another file is refused and nothing is staged (imageSignatures always)', async () => {
    const { fixture, source, server } = await serve(
      { keys, signMetadata: true, signImages: true },
      { publicKey: keys.publicKey, imageSignatures: 'always' },
    );
    server.route('/v1/vmlinuz.sig', staticFile(sig(fixture.initramfs, keys.privateKey)));
    await assertStageRefused(source, 'vmlinuz', 'SIGNATURE_INVALID');
  });

  it('a tampered image fails HASH_MISMATCH and nothing is staged', async () => {
    const { fixture, source, server } = await serve({});
    const tampered = Buffer.from(fixture.initramfs);
    tampered[1000]! ^= 1;
    server.route('/v1/kubesolo-os.gz', staticFile(tampered));
    await assertStageRefused(source, 'initramfs', 'HASH_MISMATCH');
  });

  it('a tampered, validly re-hashed image still fails its signature when metadata is unsigned', async () => {
    // allow_unsigned_metadata: the attacker controls latest.json, so the hash matches
    // the tampered file; only the image signature stands between it and the device.
    const { fixture, source, server } = await serve(
      { keys, signImages: true },
      { publicKey: keys.publicKey, allowUnsignedMetadata: true },
    );
    const tampered = Buffer.from(fixture.vmlinuz);
    tampered[0]! ^= 1;
    const doc = { ...fixture.doc, vmlinuz_sha256: sha256(tampered) };
    server.route('/latest.json', staticFile(Buffer.from(JSON.stringify(doc))));
    server.route('/v1/vmlinuz', staticFile(tampered));
    await assertStageRefused(source, 'vmlinuz', 'SIGNATURE_INVALID');
  });

  it('an explicit metadata_sig_url that is missing is SIGNATURE_MISSING even if unsigned is allowed', async () => {
    const { source } = await serve(
      { keys, signImages: true, extra: { metadata_sig_url: 'sigs/latest.json.sig' } },
      { publicKey: keys.publicKey, allowUnsignedMetadata: true },
    );
    await assert.rejects(source.fetchRelease(), code('SIGNATURE_MISSING'));
  });

  it('a failing signature server is an error, never "unsigned"', async () => {
    const { source, server } = await serve(
      { keys, signImages: true },
      { publicKey: keys.publicKey, allowUnsignedMetadata: true },
    );
    server.route('/latest.json.sig', status(500));
    await assert.rejects(source.fetchRelease(), code('HTTP_STATUS', 1));
    assert.equal(
      server.requests.filter((r) => r.path === '/latest.json.sig').length,
      2,
      'retried once',
    );
  });

  it('a garbage signature file is SIGNATURE_MALFORMED', async () => {
    const { source, server } = await serve(
      { keys, signMetadata: true },
      { publicKey: keys.publicKey },
    );
    server.route('/latest.json.sig', staticFile(Buffer.from('hello')));
    await assert.rejects(source.fetchRelease(), code('SIGNATURE_MALFORMED'));
  });

  it('expired metadata is refused: METADATA_EXPIRED', async () => {
    const { source } = await serve({ extra: { expires: '2020-01-01T00:00:00Z' } });
    await assert.rejects(source.fetchRelease(), code('METADATA_EXPIRED'));
  });

  it('the clock decides expiry', async () => {
    const { source } = await serve(
      { extra: { expires: '2030-01-01T00:00:00Z' } },
      { clock: { now: () => new Date('2031-01-01T00:00:00Z') } },
    );
    await assert.rejects(source.fetchRelease(), code('METADATA_EXPIRED'));
  });

  it('metadata over 64 KiB is refused without reading it all: METADATA_TOO_LARGE', async () => {
    const { source } = await serve({ extra: { release_notes: 'x'.repeat(70 * 1024) } });
    await assert.rejects(source.fetchRelease(), code('METADATA_TOO_LARGE'));
  });

  it('metadata from another channel is parsed and carried for the gates', async () => {
    const { source } = await serve({ extra: { channel: 'nightly' } });
    assert.equal((await source.fetchRelease()).metadata.channel, 'nightly');
  });

  it('malformed metadata is METADATA_MALFORMED', async () => {
    const { source, server } = await serve({});
    server.route('/latest.json', staticFile(Buffer.from('<html>oops</html>')));
    await assert.rejects(source.fetchRelease(), code('METADATA_MALFORMED'));
  });

  it('a 404 for latest.json is HTTP_STATUS (exit 1) and not retried', async () => {
    const { source, server } = await serve({});
    server.route('/latest.json', status(404));
    await assert.rejects(source.fetchRelease(), code('HTTP_STATUS', 1));
    assert.equal(server.requests.length, 1);
  });

  it('refuses bad metadata URLs at construction (ConfigError)', () => {
    for (const u of ['ftp://x.test/latest.json', 'https://u:p@x.test/latest.json', 'not a url']) {
      assert.throws(
        () => createHttpUpdateSource({ log: silentLogger, metadataUrl: u, allowUnsigned: true }),
        hasCode('SERVER_URL_INVALID', 2),
      );
    }
  });
});
