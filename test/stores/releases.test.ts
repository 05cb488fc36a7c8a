/**
 * The device's memory of releases (src/stores/releases.ts): identity by version and
 * pinned image digests, quarantine until forgotten, the back-off after identical
 * verification failures, the bound on the list, and a damaged file that is moved aside
 * by the next write instead of stopping the device.
 */
import { strict as assert } from 'node:assert';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { beforeEach, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import {
  backoffUntil,
  createReleaseStore,
  MAX_RELEASE_RECORDS,
  quarantineOf,
  recordOf,
  withOutcome,
  withoutQuarantine,
  withoutVerificationFailures,
  withQuarantine,
  withVerificationFailure,
  type ReleaseRecord,
} from '../../src/stores/releases.js';
import { assertCode } from '../helpers/code-assert.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';

const now = new Date('2026-12-03T14:00:00Z');
const images = (c: string) => ({ vmlinuz: c.repeat(64), initramfs: 'f'.repeat(64) });
const v2 = { version: 'v2.0.0', images: images('a') };
const v2other = { version: 'v2.0.0', images: images('b') };

describe('release records', () => {
  it('a quarantined release is refused; the same version with other images is another release', () => {
    const records = withOutcome(
      [],
      v2,
      { outcome: 'rolled_back', reason: 'HEALTH_CHECK_FAILED', quarantine: 'HEALTH_CHECK_FAILED' },
      now,
    );
    assertCode(quarantineOf(records, v2)?.quarantined?.reason, 'HEALTH_CHECK_FAILED');
    assert.equal(quarantineOf(records, v2other), undefined);
    assert.equal(quarantineOf(records, { version: 'v2.1.0', images: images('a') }), undefined);
    // Committed later (by hand, after forget) it stays a record but is not quarantined.
    const forgotten = withoutQuarantine(records, 'v2.0.0');
    assert.equal(quarantineOf(forgotten, v2), undefined);
    assert.equal(recordOf(forgotten, v2)?.outcome, 'rolled_back');
  });

  it('a version quarantined by name stands for every image of it', () => {
    const records = withQuarantine([], { version: 'v2.0.0' }, 'MARKED_BAD', now);
    assertCode(quarantineOf(records, v2)?.quarantined?.reason, 'MARKED_BAD');
    assertCode(quarantineOf(records, v2other)?.quarantined?.reason, 'MARKED_BAD');
    assert.equal(quarantineOf(records, { version: 'v2.0.1', images: images('a') }), undefined);
  });

  it('a new outcome keeps an existing quarantine; only forget ends it', () => {
    let r = withOutcome([], v2, { outcome: 'rolled_back', quarantine: 'BOOT_FALLBACK' }, now);
    r = withOutcome(r, v2, { outcome: 'on_trial' }, now);
    assert.equal(recordOf(r, v2)?.outcome, 'on_trial');
    assert.ok(quarantineOf(r, v2), 'still quarantined');
  });

  it('backs off after three identical verification failures: 6 h, 12 h, then 24 h', () => {
    const at = (h: number) => new Date(now.getTime() + h * 3600_000);
    let r: ReleaseRecord[] = [];
    r = withVerificationFailure(r, v2, 'HASH_MISMATCH', at(0));
    r = withVerificationFailure(r, v2, 'HASH_MISMATCH', at(6));
    assert.equal(backoffUntil(recordOf(r, v2)), undefined, 'two failures: no back-off');
    r = withVerificationFailure(r, v2, 'HASH_MISMATCH', at(12));
    assert.equal(backoffUntil(recordOf(r, v2))?.toISOString(), at(18).toISOString());
    r = withVerificationFailure(r, v2, 'HASH_MISMATCH', at(18));
    assert.equal(backoffUntil(recordOf(r, v2))?.toISOString(), at(30).toISOString());
    r = withVerificationFailure(r, v2, 'HASH_MISMATCH', at(30));
    assert.equal(backoffUntil(recordOf(r, v2))?.toISOString(), at(54).toISOString());
    r = withVerificationFailure(r, v2, 'HASH_MISMATCH', at(54));
    assert.equal(backoffUntil(recordOf(r, v2))?.toISOString(), at(78).toISOString());
    // Another failure starts a new run; so does a release with other images.
    const other = withVerificationFailure(r, v2, 'SIGNATURE_INVALID', at(80));
    assert.equal(recordOf(other, v2)?.verification?.failures, 1);
    assert.equal(backoffUntil(recordOf(r, v2other)), undefined);
    // Verified once: the run is over.
    assert.equal(backoffUntil(recordOf(withoutVerificationFailures(r, v2), v2)), undefined);
  });

  it(`keeps at most ${MAX_RELEASE_RECORDS} records, quarantined ones longest`, () => {
    let r = withOutcome(
      [],
      { version: 'v0.0.1' },
      { outcome: 'rolled_back', quarantine: 'BOOT_FALLBACK' },
      now,
    );
    for (let i = 1; i <= MAX_RELEASE_RECORDS + 5; i++) {
      r = withOutcome(
        r,
        { version: `v1.0.${i}`, images: images('c') },
        { outcome: 'committed' },
        now,
      );
    }
    assert.equal(r.length, MAX_RELEASE_RECORDS);
    assert.ok(quarantineOf(r, { version: 'v0.0.1' }), 'the quarantined record was kept');
    assert.equal(
      recordOf(r, { version: 'v1.0.1', images: images('c') }),
      undefined,
      'the oldest went',
    );
  });
});

describe('releases.json', () => {
  const tmp = useTempDir('ks-releases-');
  let path: string;
  beforeEach(() => (path = tmp.path('releases.json')));

  it('round-trips every field and starts empty', async () => {
    const store = createReleaseStore(path, () => now, silentLogger);
    assert.deepEqual(await store.read(), []);
    const written = await store.update((r) =>
      withVerificationFailure(
        withOutcome(
          r,
          v2,
          { outcome: 'rolled_back', reason: 'BOOT_FALLBACK', quarantine: 'BOOT_FALLBACK' },
          now,
        ),
        v2other,
        'HASH_MISMATCH',
        now,
      ),
    );
    // Compared as JSON: an absent field and one set to undefined are the same record.
    const plain = (r: unknown) => JSON.parse(JSON.stringify(r)) as unknown;
    assert.deepEqual(plain(await store.read()), plain(written));
    const doc = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(doc.schema_version, 1);
    assert.equal(doc.releases[0].vmlinuz_sha256, 'a'.repeat(64));
    assertCode(doc.releases[0].quarantine_reason, 'BOOT_FALLBACK');
  });

  it('a record that cannot be written is RELEASES_WRITE_FAILED', async () => {
    await writeFile(tmp.path('not-a-dir'), '');
    const store = createReleaseStore(
      tmp.path('not-a-dir', 'releases.json'),
      () => now,
      silentLogger,
    );
    await rejectsWithCode(
      store.update((r) => withQuarantine(r, { version: 'v2.0.0' }, 'MARKED_BAD', now)),
      'RELEASES_WRITE_FAILED',
      1,
    );
  });

  it('a damaged file is RELEASES_CORRUPT to read, and moved aside by the next write', async () => {
    await writeFile(path, '{"releases": [ {"version": 3} ], "schema_version": 1}');
    const store = createReleaseStore(path, () => now, silentLogger);
    await rejectsWithCode(store.read(), 'RELEASES_CORRUPT', 1);
    await store.update((r) => withQuarantine(r, { version: 'v2.0.0' }, 'MARKED_BAD', now));
    assert.equal((await store.read()).length, 1);
    const aside = (await readdir(tmp.dir)).filter((n) => n.startsWith('releases.json.corrupt-'));
    assert.equal(aside.length, 1, 'the evidence is kept');
    await writeFile(path, 'not json');
    await rejectsWithCode(store.read(), 'RELEASES_CORRUPT', 1);
  });
});
