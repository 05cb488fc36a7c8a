/**
 * The agent's delta update end to end (issue 26 items 3 and 4): the real agent bundle
 * on a simulated device (dir slots), releases from the real `publish` served by the
 * real `serve` (Range, ETag). `check` says what apply would download without reading
 * the running image; `apply` stages by delta from the running slot; state.json and
 * `metrics` count the bytes fetched and reused, and the deltas given up.
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repackImage } from '../../../src/transport/delta/repack.js';
import { generateKeyPair } from '../../../src/release/keys.js';
import { publishRelease } from '../../../src/release/publish.js';
import { createStaticServer, listen } from '../../../src/release/serve.js';
import { silentLogger } from '../../../src/log.js';
import { runAgent } from '../../helpers/cli.js';
import { assertCode } from '../../helpers/code-assert.js';
import { makeDevice, readJson, type Device } from '../../helpers/device.js';
import { releaseImage, sha256 } from './fixtures.js';

describe('agent: delta updates', () => {
  let tmp: string;
  let site: string;
  let server: Server;
  let url: string;
  let dev: Device;
  const key = generateKeyPair();
  const image: Record<number, Buffer> = {};

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'delta-agent-'));
    site = join(tmp, 'site');
    const kernel = join(tmp, 'vmlinuz');
    writeFileSync(kernel, Buffer.alloc(50_000, 9));
    for (const n of [1, 2]) {
      writeFileSync(join(tmp, `built${n}`), releaseImage(n));
      await repackImage(join(tmp, `built${n}`), join(tmp, `v${n}.gz`));
      image[n] = readFileSync(join(tmp, `v${n}.gz`));
      await publishRelease({
        key: key.privateKey,
        version: `v${n}.0.0`,
        imagePaths: { vmlinuz: kernel, initramfs: join(tmp, `v${n}.gz`) },
        outDir: site,
      });
    }
    server = await createStaticServer(site, { log: silentLogger });
    url = await listen(server, { host: '127.0.0.1', port: 0 });
    dev = await makeDevice({
      version: 'v1.0.0',
      config: { pubkey: '/etc/kubesolo/update.pub', server: url },
    });
    writeFileSync(dev.path('etc/kubesolo/update.pub'), key.publicKeyHex + '\n');
    // The device runs v1: slot A holds v1's images as published.
    copyFileSync(join(site, 'v1.0.0/kubesolo-os.gz'), dev.path('slots/a/kubesolo-os.gz'));
    copyFileSync(join(site, 'v1.0.0/vmlinuz'), dev.path('slots/a/vmlinuz'));
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await dev?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  const agent = (...args: string[]) => runAgent([...args, '--root', dev.root, '--json']);

  it('check says what apply would download; before the running image is indexed, the whole image (and it reads no seed)', async () => {
    const r = await agent('check');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      download: Record<string, { mode: string; bytes: number; reason?: string }>;
    };
    assert.equal(out.download.initramfs?.mode, 'full');
    assertCode(out.download.initramfs?.reason, 'DELTA_SEED_NOT_INDEXED');
    assert.equal(out.download.initramfs?.bytes, image[2]!.length);
  });

  it('apply stages v2 by delta from the running slot; state and metrics count fetched and reused bytes', async () => {
    const r = await agent('apply');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(dev.path('slots/b/kubesolo-os.gz')), image[2]);
    const state = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(state.phase, 'staged');
    const fetched = state.last_apply_bytes as number;
    const reused = state.last_apply_reused_bytes as number;
    assert.ok(fetched < image[2]!.length / 5, `fetched ${fetched}`);
    // The kernel is the same in both releases: reused whole; most of the initramfs too.
    assert.ok(reused > image[2]!.length / 2, `reused ${reused}`);
    assert.deepEqual(state.delta_fallback_counts, {});
    const m = await agent('metrics');
    assert.match(m.stdout, new RegExp(`^kubesolo_update_last_apply_reused_bytes ${reused}$`, 'm'));
    assert.match(m.stdout, new RegExp(`^kubesolo_update_last_apply_bytes ${fetched}$`, 'm'));
    // Now the running image is known to the cache: check estimates a delta.
    const c = JSON.parse((await agent('check')).stdout) as {
      download: Record<string, { mode: string; bytes: number; reusedBytes: number }>;
    };
    assert.equal(c.download.initramfs?.mode, 'delta');
    assert.ok(c.download.initramfs.bytes < image[2]!.length / 5);
  });

  it('a delta given up is one full download, logged and counted in state and metrics', async () => {
    // The staged update is dropped; the index served no longer matches its pin.
    const indexPath = join(site, 'v2.0.0/kubesolo-os.gz.index');
    const good = readFileSync(indexPath);
    writeFileSync(
      indexPath,
      Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good.at(-1)! ^ 1])]),
    );
    rmSync(join(dev.root, 'var/lib/kubesolo/update/delta'), { recursive: true, force: true });
    try {
      const r = await agent('apply', '--force');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /delta update not possible; downloading the whole image once/);
      assert.equal(sha256(readFileSync(dev.path('slots/b/kubesolo-os.gz'))), sha256(image[2]!));
      const state = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
      assert.deepEqual(state.delta_fallback_counts, { HASH_MISMATCH: 1 });
      const m = await agent('metrics');
      assert.match(
        m.stdout,
        /^kubesolo_update_delta_fallbacks_total\{reason="HASH_MISMATCH"\} 1$/m,
      );
    } finally {
      writeFileSync(indexPath, good);
    }
  });
});
