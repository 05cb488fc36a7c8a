/**
 * Staging by delta against real loopback HTTP servers (src/transport/delta/stage.ts, issue 26
 * items 3 and 5): releases published by the real `publish` (repacked images, index,
 * patch packs), a device holding the older release. Honest servers first, then every
 * hostile case: each is refused or recovered by one full download, and the staged
 * file is always the signed image, byte for byte.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Agent } from 'undici';
import { IndexCache } from '../../../src/transport/delta/cache.js';
import { decodeIndex, encodeIndex } from '../../../src/transport/delta/index-format.js';
import { repackImage } from '../../../src/transport/delta/repack.js';
import { stageDelta, type DeltaStaged } from '../../../src/transport/delta/stage.js';
import { silentLogger } from '../../../src/log.js';
import { publishRelease } from '../../../src/release/publish.js';
import { downloadToFile } from '../../../src/transport/download/download.js';
import { DEFAULT_DOWNLOAD_LIMITS } from '../../../src/transport/download/transfer.js';
import {
  endless,
  status,
  staticFile,
  startServer,
  type Handler,
  type TestServer,
} from '../../helpers/http-server.js';
import { assertCode } from '../../helpers/code-assert.js';
import { hasCode } from '../../helpers/rejects.js';
import { releaseImage, sha256 } from './fixtures.js';

let dir: string;
/** OUT of `publish` after v1, v2 and v3 (each repacked), and the image files. */
let out: string;
const image: Record<string, Buffer> = {};
const limits = {
  ...DEFAULT_DOWNLOAD_LIMITS,
  retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'delta-stage-'));
  out = join(dir, 'out');
  const key = generateKeyPairSync('ed25519').privateKey;
  const kernel = join(dir, 'vmlinuz');
  writeFileSync(kernel, Buffer.alloc(5000, 1));
  for (const n of [1, 2, 3]) {
    const built = join(dir, `built-v${n}.gz`);
    writeFileSync(built, releaseImage(n));
    const repacked = join(dir, `v${n}.gz`);
    await repackImage(built, repacked);
    image[`v${n}`] = readFileSync(repacked);
    await publishRelease({
      key,
      version: `v${n}.0.0`,
      imagePaths: { vmlinuz: kernel, initramfs: repacked },
      outDir: out,
    });
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const file = (rel: string) => readFileSync(join(out, rel));

/** Routes for v3's initramfs, its index and packs; `override` replaces one. */
function routes(override: Record<string, Handler> = {}): Record<string, Handler> {
  const r: Record<string, Handler> = {};
  for (const name of ['kubesolo-os.gz', 'kubesolo-os.gz.index', ...packNames()]) {
    r[`/v3.0.0/${name}`] = staticFile(file(`v3.0.0/${name}`));
  }
  return { ...r, ...override };
}

/** Routes without the patch packs: a device then fetches every piece it lacks by range. */
function rangeRoutes(override: Record<string, Handler> = {}): Record<string, Handler> {
  const r = routes(override);
  for (const name of packNames()) delete r[`/v3.0.0/${name}`];
  return r;
}

function packNames(): string[] {
  return decodeIndex(file('v3.0.0/kubesolo-os.gz.index')).bases.map((b) => b.pack.file);
}

interface Device {
  root: string;
  seed: string;
  cache: IndexCache;
}

let server: TestServer | undefined;
let device: Device;
let dispatcher: Agent;
beforeEach(() => {
  const root = mkdtempSync(join(dir, 'device-'));
  mkdirSync(join(root, 'A'));
  mkdirSync(join(root, 'B/.incoming'), { recursive: true });
  device = {
    root,
    seed: join(root, 'A/kubesolo-os.gz'),
    cache: new IndexCache(join(root, 'delta')),
  };
  dispatcher = new Agent();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await dispatcher.close();
});

interface Pin {
  indexSha256?: string;
  indexSize?: number;
  /** The release slot B holds (a second seed), if any. */
  passive?: string;
}

/** The device runs `running` in slot A and stages v3 into slot B (metadata pins `pin`). */
async function stage(
  running: string,
  handlers: Record<string, Handler>,
  pin: Pin = {},
  signal?: AbortSignal,
): Promise<DeltaStaged> {
  writeFileSync(device.seed, image[running] ?? Buffer.from(running));
  if (pin.passive !== undefined) writeFileSync(passiveSeed(), image[pin.passive]!);
  server ??= await startServer(handlers);
  return stageWithSeed(pin, signal);
}

const passiveSeed = () => join(device.root, 'B/kubesolo-os.gz');

/** Stage v3 with the seeds as they are on disk now (not rewritten). */
async function stageWithSeed(pin: Pin = {}, signal?: AbortSignal): Promise<DeltaStaged> {
  const index = file('v3.0.0/kubesolo-os.gz.index');
  const url = server!.url('/v3.0.0/kubesolo-os.gz');
  const dest = join(device.root, 'B/.incoming/kubesolo-os.gz');
  const full = () =>
    downloadToFile({
      url,
      dest,
      dispatcher,
      expectedSha256: sha256(image.v3!),
      expectedSize: image.v3!.length,
      limits,
      log: silentLogger,
    });
  return stageDelta(
    {
      url,
      sha256: sha256(image.v3!),
      size: image.v3!.length,
      index: {
        url: server!.url('/v3.0.0/kubesolo-os.gz.index'),
        sha256: pin.indexSha256 ?? sha256(index),
        size: pin.indexSize ?? index.length,
      },
      dest,
      stagingDir: join(device.root, 'B/.incoming'),
      dispatcher,
      limits,
      log: silentLogger,
      readBack: true,
      delta: {
        cache: device.cache,
        seeds: [
          { label: 'running', key: 'A/initramfs', path: device.seed },
          ...(pin.passive === undefined
            ? []
            : [{ label: 'passive', key: 'B/initramfs', path: passiveSeed() }]),
        ],
        targetKey: 'B/initramfs',
      },
      ...(signal ? { signal } : {}),
    },
    full,
  );
}

/** The staged file is the signed v3 image, byte for byte. */
function assertStagedV3(r: DeltaStaged): void {
  assert.deepEqual(readFileSync(r.path), image.v3);
  assert.equal(r.sha256, sha256(image.v3!));
}

const rangeRequests = () => server!.requests.filter((q) => q.headers.range !== undefined);

describe('staging by delta', () => {
  it('fetches only what the device lacks (v2 -> v3), with single-range requests, and stages the signed bytes', async () => {
    const r = await stage('v2', routes());
    assertStagedV3(r);
    assert.equal(r.delta.mode, 'delta');
    assert.equal(r.delta.fallback, undefined);
    assert.ok(
      r.bytesFetched < image.v3!.length / 10,
      `fetched ${r.bytesFetched} of ${image.v3!.length}`,
    );
    assert.ok(r.delta.patchedBytes > 0, 'patches from v2 rebuilt pieces');
    for (const q of rangeRequests()) assert.match(String(q.headers.range), /^bytes=\d+-\d+$/);
    // Only the pack for the base the device runs (v2) was fetched.
    const packs = server!.requests.filter((q) => q.path.endsWith('.patch'));
    assert.equal(packs.length, 1);
    assert.match(packs[0]!.path, new RegExp(sha256(image.v2!).slice(0, 16)));
  });

  it("two releases behind (v1 -> v3) uses v1's patches", async () => {
    const r = await stage('v1', routes());
    assertStagedV3(r);
    assert.equal(r.delta.mode, 'delta');
    assert.ok(r.delta.patchedBytes > 0);
    assert.ok(r.bytesFetched < image.v3!.length / 5, `fetched ${r.bytesFetched}`);
  });

  it('re-applying the release it runs fetches the index only', async () => {
    const r = await stage('v3', routes());
    assertStagedV3(r);
    assert.equal(r.delta.rangeBytes, 0);
    assert.equal(r.delta.packBytes, 0);
    assert.equal(r.bytesFetched, file('v3.0.0/kubesolo-os.gz.index').length);
    assert.equal(rangeRequests().length, 0);
  });

  it('cuts the running image once, then knows it by its file: a rotten seed under a known identity is repaired piece by piece (bit rot)', async () => {
    await stage('v2', routes());
    assert.equal(await device.cache.identify('A/initramfs', device.seed), sha256(image.v2!));
    // Bit rot: the seed's bytes change under the same size, inode and mtime. The cache
    // is used (no new cut: a new cut would describe the rotten bytes and miss nothing),
    // every piece read from the seed is checked, the rotten ones are fetched.
    rmSync(join(device.root, 'B/.incoming'), { recursive: true });
    mkdirSync(join(device.root, 'B/.incoming'));
    const st = statSync(device.seed);
    const rotten = Buffer.from(image.v2!);
    for (let i = 0; i < rotten.length; i += 50_000) rotten[i] = rotten[i]! ^ 1;
    writeFileSync(device.seed, rotten);
    utimesSync(device.seed, st.atimeMs / 1000, st.mtimeMs / 1000);
    const r = await stageWithSeed();
    assertStagedV3(r);
    assert.equal(r.delta.mode, 'delta');
    assert.ok(r.delta.repairedPieces > 0, 'rotten pieces were fetched, not copied');
  });

  it("takes the passive slot's old image too: a running image of no use, the old v2 in the passive slot", async () => {
    // The running image shares nothing with v3 (a foreign build); slot B still holds v2.
    const r = await stage('not an initramfs at all', routes(), { passive: 'v2' });
    assertStagedV3(r);
    assert.equal(r.delta.mode, 'delta');
    assert.ok(r.delta.reusedBytes > image.v3!.length / 2, `reused ${r.delta.reusedBytes}`);
    // Patches are for the base the device holds: v2, found in the passive slot.
    assert.ok(r.delta.patchedBytes > 0);
  });

  it('a release without an index is one full download (no delta attempted)', async () => {
    server = await startServer(routes({ '/v3.0.0/kubesolo-os.gz.index': status(404) }));
    const r = await stage('v2', {});
    assertStagedV3(r);
    assert.equal(r.delta.mode, 'full');
    assertCode(r.delta.fallback, 'HTTP_STATUS');
  });
});

describe('staging by delta: hostile servers and indexes (each refused or recovered by one full download)', () => {
  /**
   * A server honest about whole-file GETs whose single-range answers are `answer`'s
   * (asked for bytes `start`..`end` inclusive).
   */
  const onRange =
    (answer: (start: number, end: number, res: ServerResponse) => void): Handler =>
    (req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
      if (m === null) return staticFile(image.v3!)(req, res);
      answer(Number(m[1]), Number(m[2]), res);
    };
  /** Range answers from `body` (another file, or altered bytes), as asked. */
  const rangesFrom = (body: Buffer): Handler =>
    onRange((start, end, res) => {
      const slice = body.subarray(start, end + 1);
      res.writeHead(206, {
        'content-range': `bytes ${start}-${end}/${image.v3!.length}`,
        'content-length': slice.length,
      });
      res.end(slice);
    });

  it('a piece that does not match the index: DELTA_PIECE_MISMATCH, then one full download', async () => {
    const altered = Buffer.from(image.v3!);
    for (let i = 0; i < altered.length; i += 100) altered[i] = altered[i]! ^ 0x55;
    const r = await stage('v1', rangeRoutes({ '/v3.0.0/kubesolo-os.gz': rangesFrom(altered) }));
    assertStagedV3(r);
    assertCode(r.delta.fallback, 'DELTA_PIECE_MISMATCH');
  });

  it('an index that does not match its pinned hash: refused, one full download', async () => {
    const r = await stage('v2', routes(), { indexSha256: 'ab'.repeat(32) });
    assertStagedV3(r);
    assertCode(r.delta.fallback, 'HASH_MISMATCH');
  });

  it('an endless index: cut off one byte past its pinned size, one full download', async () => {
    const r = await stage('v2', routes({ '/v3.0.0/kubesolo-os.gz.index': endless() }));
    assertStagedV3(r);
    assertCode(r.delta.fallback, 'DOWNLOAD_TOO_LARGE');
  });

  it('a server that ignores Range: DELTA_RANGE_UNSUPPORTED, one full download', async () => {
    const r = await stage(
      'v1',
      rangeRoutes({ '/v3.0.0/kubesolo-os.gz': staticFile(image.v3!, { ranges: false }) }),
    );
    assertStagedV3(r);
    assertCode(r.delta.fallback, 'DELTA_RANGE_UNSUPPORTED');
  });

  const rangeLies: [string, Handler][] = [
    [
      'answers another Content-Range',
      onRange((asked, askedEnd, res) => {
        const start = asked + 1;
        const end = askedEnd + 1;
        res.writeHead(206, {
          'content-range': `bytes ${start}-${end}/${image.v3!.length}`,
          'content-length': end - start + 1,
        });
        res.end(image.v3!.subarray(start, end + 1));
      }),
    ],
    [
      'sends more than asked',
      onRange((start, end, res) => {
        // The Content-Range it was asked for, then a body that goes on (chunked).
        res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${image.v3!.length}` });
        res.end(image.v3!.subarray(start, Math.min(image.v3!.length, end + 1 + 5000)));
      }),
    ],
  ];
  for (const [lie, handler] of rangeLies) {
    it(`a server that ${lie}: DELTA_RANGE_MISMATCH, one full download`, async () => {
      const r = await stage('v1', rangeRoutes({ '/v3.0.0/kubesolo-os.gz': handler }));
      assertStagedV3(r);
      assertCode(r.delta.fallback, 'DELTA_RANGE_MISMATCH');
    });
  }

  it('an index with pieces beyond the image, overlapping, out of order, with gaps or of zero length (pinned as signed): DELTA_INDEX_INVALID', async () => {
    const good = decodeIndex(file('v3.0.0/kubesolo-os.gz.index'));
    const variants = {
      beyond: {
        ...good,
        pieces: good.pieces.map((p, i) =>
          i === good.pieces.length - 1 ? { ...p, length: p.length + 1 } : p,
        ),
      },
      overlapping: {
        ...good,
        pieces: good.pieces.map((p, i) =>
          i === 3 ? { ...p, offset: p.offset - 1, length: p.length + 1 } : p,
        ),
      },
      outOfOrder: { ...good, pieces: [good.pieces[1]!, good.pieces[0]!, ...good.pieces.slice(2)] },
      gap: {
        ...good,
        pieces: good.pieces.map((p, i) =>
          i === 3 ? { ...p, offset: p.offset + 1, length: p.length - 1 } : p,
        ),
      },
      zeroLength: {
        ...good,
        pieces: [
          ...good.pieces.slice(0, 3),
          { ...good.pieces[3]!, length: 0 },
          ...good.pieces.slice(3),
        ],
      },
    };
    for (const [name, index] of Object.entries(variants)) {
      const bytes = encodeIndex(index);
      await server?.close();
      server = await startServer(routes({ '/v3.0.0/kubesolo-os.gz.index': staticFile(bytes) }));
      rmSync(join(device.root, 'B/.incoming'), { recursive: true, force: true });
      mkdirSync(join(device.root, 'B/.incoming'));
      const r = await stage('v2', {}, { indexSha256: sha256(bytes), indexSize: bytes.length });
      assertStagedV3(r);
      assertCode(r.delta.fallback, 'DELTA_INDEX_INVALID', undefined, name);
      assert.equal(rangeRequests().length, 0, `${name}: nothing fetched by range`);
    }
  });

  it('an index that describes other bytes than the signed image: the final SHA-256 does not match, one full download', async () => {
    // A (mis)published index: v2's pieces under v3's digest and size, and a server whose
    // ranges serve exactly those pieces. Every piece checks; the whole does not.
    const v2 = decodeIndex(file('v2.0.0/kubesolo-os.gz.index'));
    const liar = encodeIndex({
      ...v2,
      imageSha256: sha256(image.v3!),
      imageSize: image.v2!.length,
      bases: [],
    });
    const sameSize = image.v2!.length === image.v3!.length;
    if (!sameSize) {
      // Sizes differ: the index is refused up front as another image's (size).
      server = await startServer(routes({ '/v3.0.0/kubesolo-os.gz.index': staticFile(liar) }));
      const r = await stage('v1', {}, { indexSha256: sha256(liar), indexSize: liar.length });
      assertStagedV3(r);
      assertCode(r.delta.fallback, 'DELTA_INDEX_INVALID');
      return;
    }
    server = await startServer(
      routes({
        '/v3.0.0/kubesolo-os.gz.index': staticFile(liar),
        '/v3.0.0/kubesolo-os.gz': rangesFrom(image.v2!),
      }),
    );
    const r = await stage('v1', {}, { indexSha256: sha256(liar), indexSize: liar.length });
    assertStagedV3(r);
    assertCode(r.delta.fallback, 'HASH_MISMATCH');
  });

  it('a patch that does not rebuild its piece (a pack pinned but wrong) is fetched instead', async () => {
    const index = decodeIndex(file('v3.0.0/kubesolo-os.gz.index'));
    const base = index.bases.find((b) => b.imageSha256 === sha256(image.v2!))!;
    const pack = Buffer.from(file(`v3.0.0/${base.pack.file}`));
    pack[Math.floor(pack.length / 2)] = pack[Math.floor(pack.length / 2)]! ^ 0xff;
    const bad = encodeIndex({
      ...index,
      bases: index.bases.map((b) =>
        b === base ? { ...b, pack: { ...b.pack, sha256: sha256(pack) } } : b,
      ),
    });
    server = await startServer(
      routes({
        '/v3.0.0/kubesolo-os.gz.index': staticFile(bad),
        [`/v3.0.0/${base.pack.file}`]: staticFile(pack),
      }),
    );
    const r = await stage('v2', {}, { indexSha256: sha256(bad), indexSize: bad.length });
    assertStagedV3(r);
    assert.equal(r.delta.mode, 'delta');
    assert.ok(r.delta.repairedPieces > 0, "the broken patch's piece was fetched");
  });
});

describe('staging by delta: resume', () => {
  it('a killed delta resumes from the pieces it wrote, checked one by one', async () => {
    const abort = new AbortController();
    let seen = 0;
    const honest = staticFile(image.v3!);
    // The third range never answers; the run is killed while it waits: the pieces before
    // it are written, the rest not.
    const handler: Handler = (req, res) => {
      if (req.headers.range !== undefined && ++seen === 3) {
        setTimeout(() => abort.abort(), 200);
        return;
      }
      return honest(req, res);
    };
    await assert.rejects(
      stage('v1', rangeRoutes({ '/v3.0.0/kubesolo-os.gz': handler }), {}, abort.signal),
      hasCode('DOWNLOAD_ABORTED', 1),
    );
    const part = statSync(join(device.root, 'B/.incoming/kubesolo-os.gz.part')).size;
    assert.ok(part > 0, 'a partial file is kept');
    const r = await stageWithSeed();
    assertStagedV3(r);
    assert.ok(r.resumedFrom > 0, `resumed from ${r.resumedFrom}`);
  });
});
