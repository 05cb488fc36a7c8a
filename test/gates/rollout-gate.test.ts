/**
 * The `rollout` gate (src/gates/rollout-gate.ts) as the gate list evaluates it: refused
 * with ROLLOUT_NOT_OPEN outside the device's wave, skipped by --force, never holding back
 * a device already on the release, and passing (with the reason) for a device `check`
 * cannot place yet.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { rolloutGate } from '../../src/gates/rollout-gate.js';
import { parseRollout, rolloutBucket } from '../../src/fleet/rollout.js';
import { assertCode } from '../helpers/code-assert.js';

const schedule = parseRollout({
  start: '2026-12-01T14:00:00Z',
  waves: [
    { percent: 1, after: '0s' },
    { percent: 100, after: '2d' },
  ],
});
/** A device identifier whose bucket for v1.1.0 is not 0 (so wave 1 does not reach it). */
const deviceId = ['a', 'b', 'c', 'd']
  .map((c) => c.repeat(64))
  .find((id) => rolloutBucket(id, 'v1.1.0') > 0)!;
const facts = {
  schedule,
  version: 'v1.1.0',
  runningVersion: 'v1.0.0',
  deviceId,
  now: new Date('2026-12-02T00:00:00Z'),
  force: false,
};

describe('the rollout gate', () => {
  it('refuses outside the wave with ROLLOUT_NOT_OPEN and the explanation', () => {
    const v = rolloutGate(facts);
    assert.equal(v.gate, 'rollout');
    assert.equal(v.pass, false);
    assertCode(v.code, 'ROLLOUT_NOT_OPEN');
    assert.match(
      v.message,
      /^wave 2 of 2 \(100 %\) opens 2026-12-03 14:00 UTC; this device is in bucket \d+$/,
    );
  });

  it('passes once the wave is open', () => {
    const v = rolloutGate({ ...facts, now: new Date('2026-12-03T14:00:00Z') });
    assert.equal(v.pass, true);
    assert.equal(v.skipped, undefined);
  });

  it('--force, no schedule, or a device already on the release: skipped', () => {
    assert.equal(rolloutGate({ ...facts, force: true }).skipped, true);
    assert.equal(rolloutGate({ ...facts, schedule: undefined }).skipped, true);
    const same = rolloutGate({ ...facts, runningVersion: 'v1.1.0' });
    assert.deepEqual([same.pass, same.skipped], [true, true]);
  });

  it('a device check cannot place yet passes, saying apply decides', () => {
    const v = rolloutGate({ ...facts, deviceId: undefined });
    assert.deepEqual([v.pass, v.skipped], [true, true]);
    assert.match(v.message, /no rollout bucket yet.*apply creates it and decides/);
  });
});
