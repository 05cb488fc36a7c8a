import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { VerificationError } from '../../src/errors.js';
import { MAX_METADATA_BYTES, parseReleaseMetadata } from '../../src/metadata/parse.js';
import { hasCode, hasReason } from '../helpers/rejects.js';

const URL_BASE = 'https://updates.example.test/stable/latest.json';
const NOW = new Date('2026-01-01T00:00:00Z');
const A = 'a'.repeat(64);
const B = 'B'.repeat(64);

function doc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 'v0.3.1',
    vmlinuz_url: 'v0.3.1/vmlinuz',
    vmlinuz_sha256: A,
    initramfs_url: 'https://cdn.example.test/v0.3.1/kubesolo-os.gz',
    initramfs_sha256: B,
    ...extra,
  };
}
const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const parse = (v: unknown): ReturnType<typeof parseReleaseMetadata> =>
  parseReleaseMetadata(bytes(v), URL_BASE, NOW);

function rejects(v: unknown, code: string, field?: string, raw?: Uint8Array): void {
  assert.throws(
    () => parseReleaseMetadata(raw ?? bytes(v), URL_BASE, NOW),
    (e: unknown) => {
      hasCode(code, 4)(e);
      assert.ok(e instanceof VerificationError, String(e));
      if (field !== undefined) assert.equal(e.details.field, field);
      return true;
    },
  );
}

describe('parseReleaseMetadata (docs/design.md §3.3)', () => {
  it('parses every KubeSolo OS field and ours, resolving relative URLs', () => {
    const m = parse(
      doc({
        vmlinuz_sig_url: 'v0.3.1/vmlinuz.sig',
        initramfs_sig_url: '/sigs/kubesolo-os.gz.sig',
        metadata_sig_url: 'latest.json.sig',
        release_notes: 'Fixes.\nMore fixes.',
        release_date: '2025-12-01',
        channel: 'stable',
        min_compatible_version: 'v0.2.0',
        architecture: 'amd64',
        vmlinuz_size: 12345,
        initramfs_size: 98765,
        initramfs_index_url: 'v0.3.1/kubesolo-os.gz.index',
        initramfs_index_sha256: 'C'.repeat(64),
        initramfs_index_size: 4096,
        compatible: ['rpi4', 'generic-arm64', 'rpi4'],
        expires: '2026-02-01T00:00:00Z',
        some_future_field: { ignored: true },
      }),
    );
    assert.deepEqual(m, {
      version: 'v0.3.1',
      images: {
        vmlinuz: {
          url: 'https://updates.example.test/stable/v0.3.1/vmlinuz',
          sha256: A,
          signatureUrl: 'https://updates.example.test/stable/v0.3.1/vmlinuz.sig',
          size: 12345,
        },
        initramfs: {
          url: 'https://cdn.example.test/v0.3.1/kubesolo-os.gz',
          sha256: B.toLowerCase(),
          signatureUrl: 'https://updates.example.test/sigs/kubesolo-os.gz.sig',
          size: 98765,
          index: {
            url: 'https://updates.example.test/stable/v0.3.1/kubesolo-os.gz.index',
            sha256: 'c'.repeat(64),
            size: 4096,
          },
        },
      },
      compatible: ['rpi4', 'generic-arm64'],
      metadataSigUrl: 'https://updates.example.test/stable/latest.json.sig',
      releaseNotes: 'Fixes.\nMore fixes.',
      releaseDate: '2025-12-01',
      channel: 'stable',
      minCompatibleVersion: 'v0.2.0',
      architecture: 'amd64',
      expires: '2026-02-01T00:00:00Z',
    });
  });

  it('treats empty optional strings and nulls as absent (Go omitempty)', () => {
    const m = parse(
      doc({ vmlinuz_sig_url: '', channel: '', metadata_sig_url: null, vmlinuz_size: null }),
    );
    assert.equal(m.images.vmlinuz.signatureUrl, undefined);
    assert.equal(m.channel, undefined);
    assert.equal(m.metadataSigUrl, undefined);
    assert.equal(m.images.vmlinuz.size, undefined);
    assert.equal('channel' in m, false);
  });

  it('carries the channel and architecture for the gates to decide on', () => {
    const m = parse(doc({ channel: 'beta', architecture: 'arm64' }));
    assert.equal(m.channel, 'beta');
    assert.equal(m.architecture, 'arm64');
  });

  it('rejects malformed documents with METADATA_MALFORMED', () => {
    rejects(undefined, 'METADATA_MALFORMED', undefined, new TextEncoder().encode('{"version": '));
    rejects(undefined, 'METADATA_MALFORMED', undefined, new TextEncoder().encode('[1,2]'));
    rejects(undefined, 'METADATA_MALFORMED', undefined, new TextEncoder().encode('null'));
    rejects(undefined, 'METADATA_MALFORMED', undefined, new Uint8Array([0x7b, 0xff, 0x7d]));
  });

  it('rejects metadata over 64 KiB with METADATA_TOO_LARGE', () => {
    const big = bytes(doc({ release_notes: 'x'.repeat(MAX_METADATA_BYTES) }));
    rejects(undefined, 'METADATA_TOO_LARGE', undefined, big);
  });

  it('names the missing field', () => {
    for (const field of [
      'version',
      'vmlinuz_url',
      'vmlinuz_sha256',
      'initramfs_url',
      'initramfs_sha256',
    ]) {
      const d = doc();
      delete d[field];
      rejects(d, 'METADATA_FIELD_MISSING', field);
    }
  });

  it('names the invalid field: hex, URLs, sizes, versions, types', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ vmlinuz_sha256: 'a'.repeat(63) }, 'vmlinuz_sha256'],
      [{ initramfs_sha256: 'g'.repeat(64) }, 'initramfs_sha256'],
      [{ vmlinuz_url: 'file:///etc/shadow' }, 'vmlinuz_url'],
      [{ initramfs_url: 'ftp://x.test/a' }, 'initramfs_url'],
      [{ vmlinuz_sig_url: 'https://user:pw@x.test/a.sig' }, 'vmlinuz_sig_url'],
      [{ metadata_sig_url: 'http://[::1' }, 'metadata_sig_url'],
      [{ initramfs_url: 'data:,hello' }, 'initramfs_url'],
      [{ vmlinuz_size: -1 }, 'vmlinuz_size'],
      [{ vmlinuz_size: 1.5 }, 'vmlinuz_size'],
      [{ initramfs_size: '100' }, 'initramfs_size'],
      [{ initramfs_size: 0 }, 'initramfs_size'],
      [{ version: 3 }, 'version'],
      [{ compatible: 'rpi4' }, 'compatible'],
      [{ compatible: [] }, 'compatible'],
      [{ compatible: ['has space'] }, 'compatible'],
      [{ compatible: ['../x'] }, 'compatible'],
      [{ compatible: [7] }, 'compatible'],
      [{ compatible: Array.from({ length: 65 }, (_, i) => `b${i}`) }, 'compatible'],
      [
        { initramfs_index_url: 'i', initramfs_index_sha256: 'x', initramfs_index_size: 1 },
        'initramfs_index_sha256',
      ],
      [
        { vmlinuz_index_url: 'file:///i', vmlinuz_index_sha256: A, vmlinuz_index_size: 1 },
        'vmlinuz_index_url',
      ],
      [
        { vmlinuz_index_url: 'i', vmlinuz_index_sha256: A, vmlinuz_index_size: 0 },
        'vmlinuz_index_size',
      ],
      [{ channel: 'has space' }, 'channel'],
      [{ architecture: ['amd64'] }, 'architecture'],
      [{ release_notes: 42 }, 'release_notes'],
      [{ expires: 'tomorrow' }, 'expires'],
      [{ expires: '2026-13-45T00:00:00Z' }, 'expires'],
    ];
    for (const [extra, field] of cases) rejects(doc(extra), 'METADATA_FIELD_INVALID', field);
  });

  it('judges versions by the one version rule (INVALID_VERSION naming the field)', () => {
    for (const [extra, field] of [
      [{ version: 'v1 2' }, 'version'],
      [{ version: '../../etc' }, 'version'],
      [{ version: ' v1.2.3' }, 'version'],
      [{ min_compatible_version: 'latest' }, 'min_compatible_version'],
      [{ min_version: 'v1.2' }, 'min_version'],
    ] as const) {
      rejects(doc(extra), 'INVALID_VERSION', field);
    }
  });

  it('an image index comes whole: URL, SHA-256 and size, or none', () => {
    for (const partial of [
      { vmlinuz_index_url: 'i' },
      { vmlinuz_index_sha256: A },
      { vmlinuz_index_url: 'i', vmlinuz_index_sha256: A },
      { initramfs_index_size: 10 },
    ]) {
      assert.throws(() => parse(doc(partial)), hasReason('METADATA_FIELD_MISSING'));
    }
    assert.equal(parse(doc()).images.vmlinuz.index, undefined);
  });

  it('refuses expired metadata with METADATA_EXPIRED and accepts unexpired', () => {
    rejects(doc({ expires: '2025-12-31T23:59:59Z' }), 'METADATA_EXPIRED', 'expires');
    rejects(doc({ expires: '2026-01-01T00:00:00Z' }), 'METADATA_EXPIRED', 'expires');
    assert.equal(
      parse(doc({ expires: '2026-01-01T01:00:00+00:30' })).expires,
      '2026-01-01T01:00:00+00:30',
    );
    // Without `now`, the real clock is used: far-future metadata is fine.
    assert.ok(parseReleaseMetadata(bytes(doc({ expires: '2999-01-01T00:00:00Z' })), URL_BASE));
  });

  it('never throws anything but a VerificationError on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.json().map((j) => new TextEncoder().encode(j)),
        ),
        (input) => {
          try {
            parseReleaseMetadata(input, URL_BASE, NOW);
          } catch (e) {
            assert.ok(e instanceof VerificationError, String(e));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never accepts a URL field that resolves to something other than http(s)', () => {
    fc.assert(
      fc.property(
        fc.webUrl({ validSchemes: ['http', 'https', 'ftp', 'file', 'javascript', 'ws'] }),
        (u) => {
          try {
            const m = parse(doc({ vmlinuz_url: u }));
            assert.match(m.images.vmlinuz.url, /^https?:\/\//);
          } catch (e) {
            assert.ok(e instanceof VerificationError);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
