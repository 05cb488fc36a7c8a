/**
 * What `check` says a device would download (src/transport/delta/estimate.ts), and the reasons it
 * gives when the answer is "the whole image"; a seed that holds nothing of the new
 * image makes apply download it whole too.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { IndexCache } from '../../../src/transport/delta/cache.js';
import { cutImage } from '../../../src/transport/delta/cut.js';
import { estimateDownload } from '../../../src/transport/delta/estimate.js';
import { decodeIndex } from '../../../src/transport/delta/index-format.js';
import { buildImageIndex } from '../../../src/transport/delta/publish-index.js';
import { repackImage } from '../../../src/transport/delta/repack.js';
import { stageDelta } from '../../../src/transport/delta/stage.js';
import { hasCode } from '../../helpers/rejects.js';
import { silentLogger } from '../../../src/log.js';
import { downloadToFile } from '../../../src/transport/download/download.js';
import { DEFAULT_DOWNLOAD_LIMITS } from '../../../src/transport/download/transfer.js';
import { staticFile, startServer, status, type TestServer } from '../../helpers/http-server.js';
import { programLike, releaseImage, sha256 } from './fixtures.js';
import { assertCode } from '../../helpers/code-assert.js';

let dir: string;
let server: TestServer;
let dispatcher: Agent;
let v2: Buffer;
let index: Buffer;
const unrelated = programLike('unrelated', 500_000);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'delta-estimate-'));
  for (const n of [1, 2]) {
    writeFileSync(join(dir, `b${n}`), releaseImage(n));
    await repackImage(join(dir, `b${n}`), join(dir, `v${n}.gz`));
  }
  v2 = readFileSync(join(dir, 'v2.gz'));
  index = (await buildImageIndex(join(dir, 'v2.gz'), 'kubesolo-os.gz', [])).bytes;
  writeFileSync(join(dir, 'unrelated'), unrelated);
  server = await startServer({
    '/v2.gz': staticFile(v2),
    '/v2.gz.index': staticFile(index),
    '/gone.index': status(404),
  });
  dispatcher = new Agent();
});
after(async () => {
  await dispatcher.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function estimate(cacheDir: string, seed: string, indexUrl: string | undefined) {
  return estimateDownload({
    imageSha256: sha256(v2),
    imageSize: v2.length,
    index:
      indexUrl === undefined
        ? undefined
        : { url: server.url(indexUrl), sha256: sha256(index), size: index.length },
    delta: {
      cache: new IndexCache(join(dir, cacheDir)),
      seeds: [{ label: 'running', key: 'A/initramfs', path: seed }],
      targetKey: 'B/initramfs',
    },
    dispatcher,
    limits: DEFAULT_DOWNLOAD_LIMITS,
    log: silentLogger,
  });
}

describe('download estimates', () => {
  it('a release without an index: the whole image (NO_DELTA_INDEX)', async () => {
    const { reason, ...e } = await estimate('c1', join(dir, 'v1.gz'), undefined);
    assertCode(reason, 'NO_DELTA_INDEX');
    assert.deepEqual(e, { mode: 'full', bytes: v2.length, imageBytes: v2.length, reusedBytes: 0 });
  });

  it('an index that cannot be fetched: the whole image (DELTA_INDEX_UNAVAILABLE)', async () => {
    const e = await estimate('c2', join(dir, 'v1.gz'), '/gone.index');
    assert.equal(e.mode, 'full');
    assertCode(e.reason, 'DELTA_INDEX_UNAVAILABLE');
  });

  it('a seed the cache knows: the delta, from the cache only', async () => {
    const cache = new IndexCache(join(dir, 'c3'));
    const params = decodeIndex(index).params;
    const seed = await cutImage(join(dir, 'v1.gz'), params);
    await cache.saveImageIndex(seed);
    await cache.rememberFile('A/initramfs', join(dir, 'v1.gz'), seed.imageSha256);
    const e = await estimate('c3', join(dir, 'v1.gz'), '/v2.gz.index');
    assert.equal(e.mode, 'delta');
    assert.ok(e.reusedBytes > v2.length / 2);
    assert.ok(e.bytes < v2.length / 2);
  });

  it('a seed that holds nothing of the new image: the whole image (DELTA_NOTHING_HELD), for check and for apply', async () => {
    const cache = new IndexCache(join(dir, 'c4'));
    const seed = await cutImage(join(dir, 'unrelated'), decodeIndex(index).params);
    await cache.saveImageIndex(seed);
    await cache.rememberFile('A/initramfs', join(dir, 'unrelated'), seed.imageSha256);
    const e = await estimate('c4', join(dir, 'unrelated'), '/v2.gz.index');
    assertCode(e.reason, 'DELTA_NOTHING_HELD');
    const dest = join(dir, 'staged');
    const r = await stageDelta(
      {
        url: server.url('/v2.gz'),
        sha256: sha256(v2),
        size: v2.length,
        index: { url: server.url('/v2.gz.index'), sha256: sha256(index), size: index.length },
        dest,
        stagingDir: dir,
        dispatcher,
        limits: DEFAULT_DOWNLOAD_LIMITS,
        log: silentLogger,
        delta: {
          cache,
          seeds: [{ label: 'running', key: 'A/initramfs', path: join(dir, 'unrelated') }],
          targetKey: 'B/initramfs',
        },
      },
      () =>
        downloadToFile({
          url: server.url('/v2.gz'),
          dest,
          dispatcher,
          expectedSha256: sha256(v2),
          expectedSize: v2.length,
          log: silentLogger,
        }),
    );
    // A full download, said but not counted as a delta given up.
    assert.equal(r.delta.mode, 'full');
    assertCode(r.delta.reason, 'DELTA_NOTHING_HELD');
    assert.equal(r.delta.fallback, undefined);
    assert.deepEqual(readFileSync(r.path), v2);
  });

  it('repack: an output that cannot be written is REPACK_FAILED', async () => {
    await assert.rejects(
      repackImage(join(dir, 'b1'), join(dir, 'no/such/dir/out.gz')),
      hasCode('REPACK_FAILED', 1),
    );
  });
});
