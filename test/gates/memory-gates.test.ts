/**
 * The gates added with the device's memory of releases and the windowed activation:
 * quarantine, the verification back-off, a paused rollout, and a window that must have
 * commit_deadline of it left.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { maintenanceWindowGate } from '../../src/gates/gates.js';
import {
  quarantineGate,
  releaseIdentity,
  verificationBackoffGate,
  type MemoryFacts,
} from '../../src/gates/quarantine-gate.js';
import { rolloutGate } from '../../src/gates/rollout-gate.js';
import type { ReleaseMetadata } from '../../src/metadata/model.js';
import { withOutcome, withVerificationFailure } from '../../src/stores/releases.js';
import { assertCode } from '../helpers/code-assert.js';

const now = new Date('2026-12-03T14:00:00Z');
const md = (version: string, kernel = 'a'): ReleaseMetadata => ({
  version,
  images: {
    vmlinuz: { url: 'http://127.0.0.1/vmlinuz', sha256: kernel.repeat(64) },
    initramfs: { url: 'http://127.0.0.1/kubesolo-os.gz', sha256: 'B'.repeat(64) },
  },
});
const facts = (f: Partial<MemoryFacts>): MemoryFacts => ({
  metadata: md('v2.0.0'),
  runningVersion: 'v1.0.0',
  releases: [],
  now,
  force: false,
  ...f,
});

describe('quarantine gate', () => {
  const quarantined = withOutcome(
    [],
    releaseIdentity(md('v2.0.0')),
    { outcome: 'rolled_back', quarantine: 'HEALTH_CHECK_FAILED' },
    now,
  );

  it('refuses the quarantined release (digests compared in lower case) until a different one is offered', () => {
    const refused = quarantineGate(facts({ releases: quarantined }));
    assert.equal(refused?.pass, false);
    assertCode(refused?.code, 'QUARANTINED');
    assert.match(refused?.message ?? '', /forget v2\.0\.0/);
    assert.equal(
      quarantineGate(facts({ releases: quarantined, metadata: md('v2.0.0', 'c') }))?.pass,
      true,
    );
    assert.equal(
      quarantineGate(facts({ releases: quarantined, metadata: md('v2.0.1') }))?.pass,
      true,
    );
    assert.equal(quarantineGate(facts({ releases: quarantined, force: true }))?.skipped, true);
  });

  it('says nothing when the offer is not an update', () => {
    assert.equal(
      quarantineGate(facts({ releases: quarantined, runningVersion: 'v2.0.0' })),
      undefined,
    );
  });
});

describe('verification back-off gate', () => {
  const id = releaseIdentity(md('v2.0.0'));
  const at = (h: number) => new Date(now.getTime() + h * 3600_000);
  let releases = withVerificationFailure([], id, 'HASH_MISMATCH', at(-12));
  releases = withVerificationFailure(releases, id, 'HASH_MISMATCH', at(-6));

  it('lets two failures be tried again, refuses after the third until its back-off ends', () => {
    assert.equal(verificationBackoffGate(facts({ releases }))?.pass, true);
    const three = withVerificationFailure(releases, id, 'HASH_MISMATCH', at(-1));
    const refused = verificationBackoffGate(facts({ releases: three }));
    assertCode(refused?.code, 'VERIFICATION_BACKOFF');
    assert.match(refused?.message ?? '', /3 times in a row \(HASH_MISMATCH/);
    assert.equal(verificationBackoffGate(facts({ releases: three, now: at(5.1) }))?.pass, true);
    assert.equal(verificationBackoffGate(facts({ releases: three, force: true }))?.skipped, true);
  });
});

describe('paused rollout', () => {
  const base = { schedule: undefined, version: 'v2.0.0', deviceId: 'id', now };
  it('refuses an update whose rollout is paused, not a device already on it; --force passes', () => {
    const refused = rolloutGate({ ...base, runningVersion: 'v1.0.0', paused: true, force: false });
    assertCode(refused.code, 'ROLLOUT_PAUSED');
    assert.equal(
      rolloutGate({ ...base, runningVersion: 'v2.0.0', paused: true, force: false }).pass,
      true,
    );
    assert.equal(
      rolloutGate({ ...base, runningVersion: 'v1.0.0', paused: true, force: true }).skipped,
      true,
    );
    assert.equal(
      rolloutGate({ ...base, runningVersion: 'v1.0.0', paused: false, force: false }).pass,
      true,
    );
  });
});

describe('the window at activation', () => {
  it('needs the margin (commit_deadline) left before the window ends', () => {
    // 03:40 UTC in 02:00-04:00 UTC: 20 min left.
    const at = new Date(Date.UTC(2026, 0, 5, 3, 40, 0));
    assert.equal(maintenanceWindowGate('02:00-04:00', at, false, 'UTC', 900).pass, true);
    const ending = maintenanceWindowGate('02:00-04:00', at, false, 'UTC', 1500);
    assertCode(ending.code, 'MAINTENANCE_WINDOW_ENDING');
    assert.match(ending.message, /only 20 min left; an activation needs 25 min/);
    // A window that wraps midnight counts to its end on the next day.
    const late = new Date(Date.UTC(2026, 0, 5, 23, 30, 30));
    const wrap = maintenanceWindowGate('23:00-01:00', late, false, 'UTC', 900);
    assert.equal(wrap.pass, true);
    assert.match(wrap.message, /89 min left/);
    assert.equal(maintenanceWindowGate('02:00-04:00', at, true, 'UTC', 1500).skipped, true);
  });
});
