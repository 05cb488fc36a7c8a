/**
 * The index format (src/transport/delta/index-format.ts): what a device accepts and the hostile
 * indexes it refuses before acting on them (issue 26 item 5: pieces beyond the image,
 * overlapping, out of order, with gaps or of zero length; tables that run off the end).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  decodeIndex,
  encodeIndex,
  MAX_INDEX_BYTES,
  MAX_REFERENCE_BYTES,
  type DeltaIndex,
  type Piece,
} from '../../../src/transport/delta/index-format.js';
import { VerificationError } from '../../../src/errors.js';
import { throwsWithCode } from '../../helpers/rejects.js';

const h = (c: string) => c.repeat(64);

function valid(): DeltaIndex {
  const pieces: Piece[] = [
    { offset: 0, length: 100, kind: 'raw', contentLength: 100, sha256: h('a') },
    { offset: 100, length: 10, kind: 'opaque', contentLength: 0, sha256: h('b') },
    { offset: 110, length: 50, kind: 'unit', contentLength: 400, sha256: h('c') },
    { offset: 160, length: 40, kind: 'unit', contentLength: 300, sha256: h('d') },
  ];
  return {
    imageSize: 200,
    imageSha256: h('e'),
    params: { mode: 'deflate', avgLog2: 16, level: 9 },
    pieces,
    bases: [
      {
        imageSha256: h('f'),
        imageSize: 190,
        version: 'v1.0.0',
        pack: { file: 'kubesolo-os.gz.from-ffff.patch', size: 30, sha256: h('1') },
        entries: [
          { piece: 2, length: 20, spans: [{ offset: 0, length: 400 }] },
          {
            piece: 3,
            length: 10,
            spans: [
              { offset: 400, length: 100 },
              { offset: 600, length: 50 },
            ],
          },
        ],
      },
    ],
  };
}

function refused(
  bytes: Buffer,
  problem: string,
  expect?: { imageSha256: string; imageSize?: number },
) {
  const err = throwsWithCode(() => decodeIndex(bytes, expect), 'DELTA_INDEX_INVALID', 4);
  assert.ok(err instanceof VerificationError);
  assert.equal(err.details.problem, problem, `expected DELTA_INDEX_INVALID (${problem})`);
}

/** An index with the given pieces (the rest valid, no bases). */
function withPieces(pieces: Piece[], imageSize = 200): Buffer {
  return encodeIndex({ ...valid(), imageSize, pieces, bases: [] });
}

const raw = (offset: number, length: number): Piece => ({
  offset,
  length,
  kind: 'raw',
  contentLength: length,
  sha256: h('a'),
});

describe('delta index format', () => {
  it('round-trips pieces, parameters and patch bases', () => {
    const index = valid();
    assert.deepEqual(
      decodeIndex(encodeIndex(index), { imageSha256: h('e'), imageSize: 200 }),
      index,
    );
  });

  it('refuses an index that describes another image (digest or size)', () => {
    refused(encodeIndex(valid()), 'other-image', { imageSha256: h('0') });
    refused(encodeIndex(valid()), 'other-image', { imageSha256: h('e'), imageSize: 201 });
  });

  it('refuses pieces beyond the image', () => {
    refused(withPieces([raw(0, 100), raw(100, 101)]), 'beyond-image');
  });

  it('refuses overlapping pieces', () => {
    refused(withPieces([raw(0, 100), raw(90, 110)]), 'overlap');
  });

  it('refuses pieces out of order (a later offset before an earlier one)', () => {
    refused(withPieces([raw(100, 100), raw(0, 100)]), 'gap');
    refused(withPieces([raw(0, 50), raw(100, 100), raw(50, 50)]), 'gap');
  });

  it('refuses gaps between pieces and an image not covered to its end', () => {
    refused(withPieces([raw(0, 100), raw(110, 90)]), 'gap');
    refused(withPieces([raw(0, 100), raw(100, 50)]), 'short');
  });

  it('refuses pieces of zero length', () => {
    refused(withPieces([raw(0, 100), raw(100, 0), raw(100, 100)]), 'zero-length');
  });

  it('refuses unknown kinds and content lengths a kind cannot have', () => {
    const bytes = withPieces([raw(0, 200)]);
    bytes[64 + 6] = 7; // the kind byte of piece 0
    refused(bytes, 'piece-kind');
    refused(withPieces([{ ...raw(0, 200), contentLength: 199 }]), 'content-length');
    refused(withPieces([{ ...raw(0, 200), kind: 'opaque', contentLength: 5 }]), 'content-length');
    refused(withPieces([{ ...raw(0, 200), kind: 'unit', contentLength: 0 }]), 'content-length');
  });

  it('refuses a truncated index, trailing bytes, a wrong magic and an endless one', () => {
    const bytes = encodeIndex(valid());
    refused(bytes.subarray(0, bytes.length - 1), 'truncated');
    refused(bytes.subarray(0, 64 + 48 * 2), 'truncated');
    refused(Buffer.concat([bytes, Buffer.alloc(1)]), 'trailing');
    const magic = Buffer.from(bytes);
    magic[0] = 0x41;
    refused(magic, 'magic');
    refused(Buffer.alloc(MAX_INDEX_BYTES + 1), 'too-large');
    // A piece count that promises more than the bytes hold is refused before allocating.
    const count = Buffer.from(bytes);
    count.writeUInt32LE(0xffffffff, 48);
    refused(count, 'truncated');
  });

  it('refuses patch entries for pieces that do not exist, out of order, or that cannot be rebuilt', () => {
    const absent = valid();
    absent.bases[0]!.entries[1]!.piece = 9;
    refused(encodeIndex(absent), 'patch-piece');
    const order = valid();
    order.bases[0]!.entries.reverse();
    refused(encodeIndex(order), 'patch-piece');
    const opaque = valid();
    opaque.bases[0]!.entries[0]!.piece = 1;
    refused(encodeIndex(opaque), 'patch-piece');
    const noLevel = valid();
    noLevel.params.level = 0;
    refused(encodeIndex(noLevel), 'patch-piece');
  });

  it('refuses a reference larger than a device holds and patches that do not add up to the pack', () => {
    const big = valid();
    big.bases[0]!.entries[0]!.spans = [{ offset: 0, length: MAX_REFERENCE_BYTES + 1 }];
    refused(encodeIndex(big), 'reference-too-large');
    const size = valid();
    size.bases[0]!.pack.size = 31;
    refused(encodeIndex(size), 'pack-size');
    const name = valid();
    name.bases[0]!.pack.file = '../latest.json';
    refused(encodeIndex(name), 'pack-name');
  });
});
