/**
 * The cutter (src/transport/delta/cut.ts): pieces tile the image, a repacked stream is cut unit
 * by unit and nothing else is taken for a unit, and images built with `gzip
 * --rsyncable` share pieces from one release to the next without a repack.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { constants as Z, crc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { contentStream } from '../../../src/transport/delta/content.js';
import { cutImage, detectCutParams } from '../../../src/transport/delta/cut.js';
import { repackImage } from '../../../src/transport/delta/repack.js';
import { readFileSync } from 'node:fs';
import { toolSkipReason } from '../../helpers/require-tool.js';
import { EARLY, newcArchive, releaseEntries, releaseImage } from './fixtures.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'delta-cut-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('cutting images into pieces', () => {
  it('a repacked image: raw early pieces, then its units, whose contents are the cpio', async () => {
    writeFileSync(join(dir, 'in'), releaseImage(2));
    await repackImage(join(dir, 'in'), join(dir, 'out'));
    const image = readFileSync(join(dir, 'out'));
    const params = await detectCutParams(join(dir, 'out'));
    const index = await cutImage(join(dir, 'out'), params);
    let at = 0;
    for (const p of index.pieces) {
      assert.equal(p.offset, at);
      at += p.length;
    }
    assert.equal(at, image.length);
    const early = index.pieces.filter((p) => p.offset < EARLY.length);
    assert.ok(early.every((p) => p.kind === 'raw'));
    assert.equal(early.at(-1)!.offset + early.at(-1)!.length, EARLY.length);
    // The gzip header and the tail are opaque; everything between is units.
    const rest = index.pieces.filter((p) => p.offset >= EARLY.length);
    assert.equal(rest[0]!.kind, 'opaque');
    assert.equal(rest.at(-1)!.kind, 'opaque');
    assert.ok(rest.slice(1, -1).every((p) => p.kind === 'unit'));
    // The content stream is the early archive and the whole cpio, byte for byte.
    const content = contentStream(image, params, index.pieces);
    assert.deepEqual(content, Buffer.concat([EARLY, gunzipSync(image.subarray(EARLY.length))]));
  });

  it('a flush marker that is only data (inside a stored block) is no unit boundary the device trusts', async () => {
    // Three units, the middle one stored (level 0) with 00 00 ff ff in its data: the
    // cutter cuts there too, and neither half inflates on its own: both are opaque.
    const units = [
      deflateRawSync(Buffer.from('first unit '.repeat(500)), {
        level: 6,
        finishFlush: Z.Z_FULL_FLUSH,
      }),
      deflateRawSync(
        Buffer.concat([
          Buffer.alloc(300, 7),
          Buffer.from([0, 0, 0xff, 0xff]),
          Buffer.alloc(300, 8),
        ]),
        {
          level: 0,
          finishFlush: Z.Z_FULL_FLUSH,
        },
      ),
      deflateRawSync(Buffer.from('third unit '.repeat(500)), {
        level: 6,
        finishFlush: Z.Z_FULL_FLUSH,
      }),
    ];
    const content = Buffer.concat([
      Buffer.from('first unit '.repeat(500)),
      Buffer.alloc(300, 7),
      Buffer.from([0, 0, 0xff, 0xff]),
      Buffer.alloc(300, 8),
      Buffer.from('third unit '.repeat(500)),
    ]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(content), 0);
    trailer.writeUInt32LE(content.length, 4);
    const image = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]),
      ...units,
      Buffer.from([3, 0]),
      trailer,
    ]);
    assert.deepEqual(gunzipSync(image), content); // a valid gzip stream
    writeFileSync(join(dir, 'marker'), image);
    const index = await cutImage(join(dir, 'marker'), { mode: 'deflate', avgLog2: 16, level: 6 });
    const kinds = index.pieces.map((p) => p.kind);
    assert.deepEqual(kinds, ['opaque', 'unit', 'opaque', 'opaque', 'unit', 'opaque']);
    assert.equal(index.pieces[1]!.length, units[0]!.length);
    assert.equal(index.pieces[4]!.length, units[2]!.length);
  });

  it(
    'gzip --rsyncable images share most pieces from one release to the next, as built',
    { skip: toolSkipReason(['gzip'], 'gzip') },
    async () => {
      const rsyncable = (n: number) =>
        Buffer.concat([
          EARLY,
          execFileSync('gzip', ['-9', '-n', '--rsyncable', '-c'], {
            input: newcArchive(releaseEntries(n)),
          }),
        ]);
      writeFileSync(join(dir, 'r1'), rsyncable(1));
      writeFileSync(join(dir, 'r2'), rsyncable(2));
      const params = await detectCutParams(join(dir, 'r2'), 14);
      assert.equal(params.mode, 'cdc', 'GNU gzip units do not deflate again: cut by content');
      const a = await cutImage(join(dir, 'r1'), params);
      const b = await cutImage(join(dir, 'r2'), params);
      const held = new Set(a.pieces.map((p) => p.sha256));
      const shared = b.pieces.filter((p) => held.has(p.sha256)).reduce((s, p) => s + p.length, 0);
      assert.ok(shared > b.imageSize / 2, `shared ${shared} of ${b.imageSize}`);
      // A plain gzip -9 image of the same files shares next to nothing past the early archive.
      const plain = (n: number) =>
        Buffer.concat([
          EARLY,
          execFileSync('gzip', ['-9', '-n', '-c'], { input: newcArchive(releaseEntries(n)) }),
        ]);
      writeFileSync(join(dir, 'p1'), plain(1));
      writeFileSync(join(dir, 'p2'), plain(2));
      const pa = await cutImage(join(dir, 'p1'), params);
      const pb = await cutImage(join(dir, 'p2'), params);
      const pheld = new Set(pa.pieces.map((p) => p.sha256));
      const pshared = pb.pieces
        .filter((p) => p.offset >= EARLY.length && pheld.has(p.sha256))
        .reduce((s, p) => s + p.length, 0);
      assert.ok(pshared < (pb.imageSize - EARLY.length) / 10, `plain gzip shared ${pshared}`);
    },
  );
});
