/**
 * The publisher's side of delta updates (issue 26 item 1): `publish` writes an index
 * per image (and patch packs from earlier releases in OUT) pinned by the signed
 * latest.json while the images stay byte for byte what is signed; `verify` recomputes
 * every index from its image; the `repack` and `publish` commands as an operator runs
 * them (the built binaries).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { decodeIndex, encodeIndex } from '../../../src/transport/delta/index-format.js';
import { repackImage } from '../../../src/transport/delta/repack.js';
import { verifyImageIndex } from '../../../src/transport/delta/verify-index.js';
import { silentLogger } from '../../../src/log.js';
import { generateKeyPair } from '../../../src/release/keys.js';
import { publishRelease, type PublishedLatestJson } from '../../../src/release/publish.js';
import { verifyRelease } from '../../../src/release/verify.js';
import { expectRefusal, runRelease } from '../../helpers/cli.js';
import { rejectsWithCode } from '../../helpers/rejects.js';
import { staticFile, startServer } from '../../helpers/http-server.js';
import { releaseImage, sha256 } from './fixtures.js';

let dir: string;
const key = generateKeyPair();
const pub = new Uint8Array(Buffer.from(key.publicKeyHex, 'hex'));
let kernel: string;
const repacked: Record<number, string> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'delta-publish-'));
  kernel = join(dir, 'vmlinuz');
  writeFileSync(kernel, Buffer.alloc(40_000, 5));
  for (const n of [1, 2, 3]) {
    writeFileSync(join(dir, `built${n}`), releaseImage(n));
    repacked[n] = join(dir, `v${n}.gz`);
    await repackImage(join(dir, `built${n}`), repacked[n]);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function publish(
  out: string,
  n: number,
  delta?: Parameters<typeof publishRelease>[0]['delta'],
) {
  return publishRelease({
    key: key.privateKey,
    version: `v${n}.0.0`,
    imagePaths: { vmlinuz: kernel, initramfs: repacked[n]! },
    outDir: out,
    ...(delta ? { delta } : {}),
  });
}

const latest = (out: string) =>
  JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as PublishedLatestJson;

describe('publish and verify with delta indexes', () => {
  it('pins an index per image and writes patch packs from the two previous releases; the images stay as signed', async () => {
    const out = join(dir, 'site');
    for (const n of [1, 2, 3]) await publish(out, n);
    const meta = latest(out);
    const index = readFileSync(join(out, meta.initramfs_index_url!));
    assert.equal(sha256(index), meta.initramfs_index_sha256);
    assert.equal(index.length, meta.initramfs_index_size);
    // The image published is the input, byte for byte (what older agents download).
    assert.deepEqual(readFileSync(join(out, meta.initramfs_url)), readFileSync(repacked[3]!));
    const decoded = decodeIndex(index, { imageSha256: meta.initramfs_sha256 });
    assert.equal(decoded.params.mode, 'deflate');
    assert.deepEqual(
      decoded.bases.map((b) => [b.version, b.imageSha256]),
      [
        ['v2.0.0', sha256(readFileSync(repacked[2]!))],
        ['v1.0.0', sha256(readFileSync(repacked[1]!))],
      ],
    );
    for (const b of decoded.bases) {
      const pack = readFileSync(join(out, 'v3.0.0', b.pack.file));
      assert.equal(sha256(pack), b.pack.sha256);
    }
    // verify recomputes the index from the image it downloads, and fetches each pack.
    const r = await verifyRelease({ target: out, publicKey: pub, log: silentLogger });
    const initramfs = r.artifacts.find((a) => a.artifact === 'initramfs')!;
    assert.equal(initramfs.index?.pieces, decoded.pieces.length);
    assert.deepEqual(
      initramfs.index?.bases.map((b) => b.version),
      ['v2.0.0', 'v1.0.0'],
    );
  });

  it('--delta-bases 0 writes no packs; --no-delta-index writes no index at all', async () => {
    const none = join(dir, 'no-bases');
    await publish(none, 1, { bases: 0 });
    await publish(none, 2, { bases: 0 });
    const meta = latest(none);
    assert.equal(decodeIndex(readFileSync(join(none, meta.initramfs_index_url!))).bases.length, 0);
    const off = join(dir, 'no-index');
    await publish(off, 1, { index: false });
    const plain = latest(off);
    assert.equal(plain.initramfs_index_url, undefined);
    assert.equal(plain.vmlinuz_index_sha256, undefined);
  });

  it('verify refuses an index that is pinned but is not the cut of its image (DELTA_INDEX_MISMATCH)', async () => {
    const v2 = readFileSync(repacked[2]!);
    const v3 = readFileSync(repacked[3]!);
    const out = join(dir, 'mismatch');
    await publish(out, 3);
    const good = decodeIndex(readFileSync(join(out, 'v3.0.0/kubesolo-os.gz.index')));
    // One piece's digest changed: the index still describes v3 (digest, size), wrongly.
    const bad = encodeIndex({
      ...good,
      pieces: good.pieces.map((p, i) => (i === 2 ? { ...p, sha256: sha256(v2) } : p)),
    });
    const server = await startServer({ '/index': staticFile(bad) });
    const dispatcher = new Agent();
    const imagePath = join(dir, 'v3-for-verify');
    writeFileSync(imagePath, v3);
    try {
      const err = await rejectsWithCode(
        verifyImageIndex({
          imagePath,
          imageSha256: sha256(v3),
          imageSize: v3.length,
          index: { url: server.url('/index'), sha256: sha256(bad), size: bad.length },
          stagingDir: dir,
          dispatcher,
          log: silentLogger,
        }),
        'DELTA_INDEX_MISMATCH',
        4,
      );
      assert.equal(err.details.piece, 2);
    } finally {
      await dispatcher.close();
      await server.close();
    }
  });

  it('the commands: repack proves equivalence, publish refuses a bad --delta-bases', async () => {
    const out = join(dir, 'cli.gz');
    const r = await runRelease(['repack', join(dir, 'built1'), out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout) as { proof: { entries: number }; outBytes: number };
    assert.ok(data.proof.entries > 30);
    assert.deepEqual(readFileSync(out), readFileSync(repacked[1]!));
    const bad = await runRelease(['repack', join(dir, 'built1'), out, '--level', '12']);
    expectRefusal(bad, 'REPACK_OPTION_INVALID', 2);
    const keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, key.privateKeyPem);
    const publishWith = (...extra: string[]) =>
      runRelease([
        'publish',
        '--key',
        keyFile,
        '--release-version',
        'v9.0.0',
        '--kernel',
        kernel,
        '--initramfs',
        repacked[1]!,
        '--out',
        join(dir, 'cli-site'),
        ...extra,
      ]);
    const p = await publishWith('--delta-bases', 'many');
    expectRefusal(p, 'INVALID_DELTA_BASES', 2);
    const level = await publishWith('--patch-level', '22');
    expectRefusal(level, 'INVALID_PATCH_LEVEL', 2);
  });
});
