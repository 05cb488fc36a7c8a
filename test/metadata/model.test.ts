/**
 * One latest.json model (src/metadata/model.ts): what the publishers write through
 * `serializeLatestJson` is what the device's parser reads back, field by field
 * (`WIRE_FIELD`), for a document with every field, the minimal one, and the documents
 * `kubesolo-release publish` and `push` build.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { ARTIFACT_NAMES } from '../../src/metadata/images.js';
import {
  WIRE_FIELD,
  imageWireFields,
  latestJsonOf,
  serializeLatestJson,
  type LatestJson,
  type ReleaseMetadata,
} from '../../src/metadata/model.js';
import { rolloutJson } from '../../src/fleet/rollout.js';
import { parseReleaseMetadata } from '../../src/metadata/parse.js';
import { buildLatestJson } from '../../src/release/oci-push.js';
import { buildMetadata } from '../../src/release/publish.js';
import { silentLogger } from '../../src/log.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const hex = (c: string) => c.repeat(64);

/** Every field of the model, with values the parser keeps as they are. */
const FULL: Required<LatestJson> = {
  version: 'v1.2.3',
  vmlinuz_url: 'https://updates.example/v1.2.3/vmlinuz',
  vmlinuz_sha256: hex('a'),
  vmlinuz_sig_url: 'https://updates.example/v1.2.3/vmlinuz.sig',
  vmlinuz_size: 1234,
  vmlinuz_index_url: 'https://updates.example/v1.2.3/vmlinuz.index',
  vmlinuz_index_sha256: hex('c'),
  vmlinuz_index_size: 321,
  initramfs_url: 'https://updates.example/v1.2.3/kubesolo-os.gz',
  initramfs_sha256: hex('b'),
  initramfs_sig_url: 'https://updates.example/v1.2.3/kubesolo-os.gz.sig',
  initramfs_size: 5678,
  initramfs_index_url: 'https://updates.example/v1.2.3/kubesolo-os.gz.index',
  initramfs_index_sha256: hex('d'),
  initramfs_index_size: 654,
  metadata_sig_url: 'https://updates.example/v1.2.3/latest.json.sig',
  release_notes: 'notes',
  release_date: '2026-05-01T00:00:00Z',
  channel: 'stable',
  min_compatible_version: 'v1.0.0',
  architecture: 'arm64',
  compatible: ['rpi4', 'generic-arm64'],
  expires: '2026-07-01T00:00:00Z',
  rollout: {
    start: '2026-06-01T00:00:00Z',
    waves: [
      { percent: 5, after: '0s' },
      { percent: 100, after: '2d' },
    ],
  },
  min_version: 'v1.1.0',
  paused: true,
};

/** What the parser makes of a wire value: URLs resolved against the metadata URL. */
function expectedValue(wire: string, written: unknown, metadataUrl: string): unknown {
  return typeof written === 'string' && wire.endsWith('_url')
    ? new URL(written, metadataUrl).href
    : written;
}

/** Parse the serialized document and compare every field the model ties together. */
function roundTrip(doc: LatestJson, metadataUrl: string): ReleaseMetadata {
  const parsed = parseReleaseMetadata(serializeLatestJson(doc), metadataUrl, NOW);
  const wireDoc = doc as unknown as Record<string, unknown>;
  for (const [field, wire] of Object.entries(WIRE_FIELD) as [
    Exclude<keyof ReleaseMetadata, 'images'>,
    string,
  ][]) {
    const expected = expectedValue(wire, wireDoc[wire], metadataUrl);
    // The schedule is parsed into delays in seconds; its JSON form is what round-trips.
    const got = field === 'rollout' && parsed.rollout ? rolloutJson(parsed.rollout) : parsed[field];
    assert.deepEqual(got, expected, `${wire} → ${field}`);
  }
  for (const name of ARTIFACT_NAMES) {
    const f = imageWireFields(name);
    const image = parsed.images[name];
    const pairs: [string, unknown][] = [
      [f.url, image.url],
      [f.sha256, image.sha256],
      [f.size, image.size],
      [f.signatureUrl, image.signatureUrl],
      [f.indexUrl, image.index?.url],
      [f.indexSha256, image.index?.sha256],
      [f.indexSize, image.index?.size],
    ];
    for (const [wire, got] of pairs) {
      assert.deepEqual(got, expectedValue(wire, wireDoc[wire], metadataUrl), `${wire} → images`);
    }
  }
  return parsed;
}

describe('latest.json model: writer and device parser agree', () => {
  it('WIRE_FIELD and the image fields name every field of the model once', () => {
    const wire = [
      ...Object.values(WIRE_FIELD),
      ...ARTIFACT_NAMES.flatMap((name) => Object.values(imageWireFields(name))),
    ];
    assert.deepEqual([...wire].sort(), Object.keys(FULL).sort());
    assert.equal(new Set(wire).size, wire.length);
  });

  it('a document with every field round-trips, and the writer is the parser inverse', () => {
    const parsed = roundTrip(FULL, 'https://updates.example/latest.json');
    // Every release-wide field and the images: nothing left over, nothing dropped.
    assert.equal(Object.keys(parsed).length, Object.keys(WIRE_FIELD).length + 1);
    // The one builder writes back exactly the document, in the document's field order.
    assert.deepEqual(Object.entries(latestJsonOf(parsed)), Object.entries(FULL));
  });

  it('the minimal document round-trips, and nothing absent appears', () => {
    const minimal: LatestJson = {
      version: 'v2.0.0',
      vmlinuz_url: 'v2/vmlinuz',
      vmlinuz_sha256: hex('c'),
      initramfs_url: 'v2/kubesolo-os.gz',
      initramfs_sha256: hex('d'),
    };
    const parsed = roundTrip(minimal, 'http://h/stable/latest.json');
    assert.deepEqual(Object.keys(parsed).sort(), ['images', 'version']);
    assert.deepEqual(Object.keys(parsed.images.vmlinuz).sort(), ['sha256', 'url']);
    assert.equal(parsed.images.vmlinuz.url, 'http://h/stable/v2/vmlinuz');
  });

  it('serializes as two-space JSON with a final newline, fields in document order', () => {
    const text = serializeLatestJson({
      version: 'v1.0.0',
      vmlinuz_url: 'k',
      vmlinuz_sha256: hex('1'),
      initramfs_url: 'i',
      initramfs_sha256: hex('2'),
    }).toString('utf8');
    assert.ok(text.endsWith('}\n'));
    assert.match(text, /^\{\n {2}"version": "v1\.0\.0",\n {2}"vmlinuz_url": "k",/);
  });

  it('what `publish` builds round-trips (relative and --base-url URLs)', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const kernel = Buffer.from('kernel bytes');
    const initramfs = Buffer.from('initramfs bytes');
    for (const baseUrl of [undefined, 'https://cdn.example/os/']) {
      const doc = buildMetadata(
        {
          key: privateKey,
          version: 'v3.1.0',
          imagePaths: { vmlinuz: '', initramfs: '' },
          outDir: '',
          channel: 'beta',
          architecture: 'amd64',
          minCompatibleVersion: 'v3.0.0',
          releaseNotes: 'r',
          expiresInSeconds: 3600,
          ...(baseUrl === undefined ? {} : { baseUrl }),
        },
        { vmlinuz: kernel, initramfs },
        NOW,
      );
      const parsed = roundTrip(doc, 'http://mirror.example/os/latest.json');
      assert.equal(parsed.images.vmlinuz.size, kernel.length);
      assert.equal(parsed.expires, '2026-06-01T01:00:00Z');
    }
  });

  it('what `push` builds for its metadata layer round-trips', () => {
    const file = (name: string, c: string) => ({
      name,
      path: '',
      size: 42,
      digest: `sha256:${hex(c)}`,
    });
    const bytes = buildLatestJson(
      {
        log: silentLogger,
        registry: 'r.example/os',
        tag: 'v1',
        imagePaths: { vmlinuz: '', initramfs: '' },
        version: 'v1.0.0',
        architecture: 'amd64',
        channel: 'stable',
        minCompatibleVersion: 'v0.9.0',
        releaseNotes: 'n',
      },
      { vmlinuz: file('vmlinuz', 'e'), initramfs: file('kubesolo-os.gz', 'f') },
      (d: string) => `https://r.example/v2/os/blobs/${d}`,
      '2026-05-01T00:00:00Z',
    );
    const doc = JSON.parse(bytes.toString('utf8')) as LatestJson;
    const parsed = roundTrip(doc, 'https://r.example/v2/os/blobs/sha256:x');
    assert.equal(parsed.images.vmlinuz.sha256, hex('e'));
    assert.equal(parsed.images.initramfs.url, `https://r.example/v2/os/blobs/sha256:${hex('f')}`);
  });
});
