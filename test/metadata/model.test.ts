/**
 * One latest.json model (src/metadata/model.ts): what the publishers write through
 * `serializeLatestJson` is what the device's parser reads back, field by field
 * (`WIRE_FIELD`), for a document with every field, the minimal one, and the documents
 * `kubesolo-release publish` and `push` build.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  WIRE_FIELD,
  serializeLatestJson,
  type LatestJson,
  type ReleaseMetadata,
} from '../../src/metadata/model.js';
import { rolloutJson } from '../../src/fleet/rollout.js';
import { parseReleaseMetadata } from '../../src/metadata/parse.js';
import { buildLatestJson } from '../../src/release/oci-push.js';
import { buildMetadata } from '../../src/release/publish.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const hex = (c: string) => c.repeat(64);

/** Every field of the model, with values the parser keeps as they are. */
const FULL: Required<LatestJson> = {
  version: 'v1.2.3',
  vmlinuz_url: 'https://updates.example/v1.2.3/vmlinuz',
  vmlinuz_sha256: hex('a'),
  vmlinuz_sig_url: 'https://updates.example/v1.2.3/vmlinuz.sig',
  vmlinuz_size: 1234,
  initramfs_url: 'https://updates.example/v1.2.3/kubesolo-os.gz',
  initramfs_sha256: hex('b'),
  initramfs_sig_url: 'https://updates.example/v1.2.3/kubesolo-os.gz.sig',
  initramfs_size: 5678,
  metadata_sig_url: 'https://updates.example/v1.2.3/latest.json.sig',
  release_notes: 'notes',
  release_date: '2026-05-01T00:00:00Z',
  channel: 'stable',
  min_compatible_version: 'v1.0.0',
  architecture: 'arm64',
  expires: '2026-07-01T00:00:00Z',
  rollout: {
    start: '2026-06-01T00:00:00Z',
    waves: [
      { percent: 5, after: '0s' },
      { percent: 100, after: '2d' },
    ],
  },
  min_version: 'v1.1.0',
};

/** Parse the serialized document and compare every field the model ties together. */
function roundTrip(doc: LatestJson, metadataUrl: string): ReleaseMetadata {
  const parsed = parseReleaseMetadata(serializeLatestJson(doc), metadataUrl, NOW);
  for (const [field, wire] of Object.entries(WIRE_FIELD) as [
    keyof ReleaseMetadata,
    keyof LatestJson,
  ][]) {
    const written = doc[wire];
    const expected =
      typeof written === 'string' && wire.endsWith('_url')
        ? new URL(written, metadataUrl).href
        : written;
    // The schedule is parsed into delays in seconds; its JSON form is what round-trips.
    const got = field === 'rollout' && parsed.rollout ? rolloutJson(parsed.rollout) : parsed[field];
    assert.deepEqual(got, expected, `${wire} → ${field}`);
  }
  return parsed;
}

describe('latest.json model: writer and device parser agree', () => {
  it('WIRE_FIELD names every field of the model once', () => {
    const wire = Object.values(WIRE_FIELD);
    assert.deepEqual([...wire].sort(), Object.keys(FULL).sort());
    assert.equal(new Set(wire).size, wire.length);
  });

  it('a document with every field round-trips', () => {
    const parsed = roundTrip(FULL, 'https://updates.example/latest.json');
    assert.equal(Object.keys(parsed).length, Object.keys(FULL).length);
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
    assert.deepEqual(Object.keys(parsed).sort(), [
      'initramfsSha256',
      'initramfsUrl',
      'version',
      'vmlinuzSha256',
      'vmlinuzUrl',
    ]);
    assert.equal(parsed.vmlinuzUrl, 'http://h/stable/v2/vmlinuz');
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
          kernelPath: '',
          initramfsPath: '',
          outDir: '',
          channel: 'beta',
          architecture: 'amd64',
          minCompatibleVersion: 'v3.0.0',
          releaseNotes: 'r',
          expiresInSeconds: 3600,
          ...(baseUrl === undefined ? {} : { baseUrl }),
        },
        kernel,
        initramfs,
        NOW,
      );
      const parsed = roundTrip(doc, 'http://mirror.example/os/latest.json');
      assert.equal(parsed.vmlinuzSize, kernel.length);
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
        registry: 'r.example/os',
        tag: 'v1',
        kernelPath: '',
        initramfsPath: '',
        version: 'v1.0.0',
        architecture: 'amd64',
        channel: 'stable',
        minCompatibleVersion: 'v0.9.0',
        releaseNotes: 'n',
      },
      file('vmlinuz', 'e'),
      file('kubesolo-os.gz', 'f'),
      (d) => `https://r.example/v2/os/blobs/${d}`,
      '2026-05-01T00:00:00Z',
    );
    const doc = JSON.parse(bytes.toString('utf8')) as LatestJson;
    const parsed = roundTrip(doc, 'https://r.example/v2/os/blobs/sha256:x');
    assert.equal(parsed.vmlinuzSha256, hex('e'));
    assert.equal(parsed.initramfsUrl, `https://r.example/v2/os/blobs/sha256:${hex('f')}`);
  });
});
