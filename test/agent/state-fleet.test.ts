/**
 * The fleet-metrics keys of state.json (docs/fleet.md): derived by every transition,
 * optional in the file (an older file loads), read leniently, and a `check` recorded
 * under the run lock without touching the lifecycle.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { recordCheck } from '../../src/agent/check-record.js';
import { acquireLock } from '../../src/stores/lock.js';
import {
  createStateStore,
  idleState,
  MAX_REASON_KEYS,
  parseStateFile,
  type StateStore,
} from '../../src/stores/state.js';
import { silentLogger } from '../../src/log.js';
import { useTempDir } from '../helpers/tree.js';

/** A clock the test moves by hand. */
function manualClock(start: string) {
  let now = new Date(start);
  return {
    now: () => now,
    advance(seconds: number) {
      now = new Date(now.getTime() + seconds * 1000);
    },
  };
}

describe('state.json fleet bookkeeping', () => {
  let dir: string;
  let path: string;
  let clock: ReturnType<typeof manualClock>;
  let store: StateStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-state-fleet-'));
    path = join(dir, 'state.json');
    clock = manualClock('2026-03-01T12:00:00Z');
    store = createStateStore(path, clock, silentLogger);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('phase_since moves only when the phase changes; activated_at only on staged → activated', async () => {
    let s = await store.transition(idleState(), 'checking');
    assert.equal(s.phaseSince, '2026-03-01T12:00:00.000Z');
    clock.advance(10);
    s = await store.transition(s, 'checking', { toVersion: 'v1.1.0' });
    assert.equal(s.phaseSince, '2026-03-01T12:00:00.000Z');
    assert.equal(s.updatedAt, '2026-03-01T12:00:10.000Z');
    s = await store.transition(s, 'downloading');
    s = await store.transition(s, 'staged');
    assert.equal(s.activatedAt, undefined);
    clock.advance(10);
    s = await store.transition(s, 'activated');
    assert.equal(s.activatedAt, '2026-03-01T12:00:20.000Z');
    // Health checks cycle activated ↔ verifying: the activation time stays.
    clock.advance(60);
    s = await store.transition(s, 'verifying');
    s = await store.transition(s, 'activated', { reason: 'HEALTH_CHECK_FAILED' });
    assert.equal(s.activatedAt, '2026-03-01T12:00:20.000Z');
    assert.equal(s.phaseSince, '2026-03-01T12:01:20.000Z');
    const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    assert.equal(file.phase_since, '2026-03-01T12:01:20.000Z');
    assert.equal(file.activated_at, '2026-03-01T12:00:20.000Z');
    assert.deepEqual((await store.read()).state, s);
  });

  it('counts each entry into failed and rolled_back by reason, and only those', async () => {
    let s = await store.transition(idleState(), 'failed', { reason: 'INSUFFICIENT_SPACE' });
    s = await store.transition(s, 'failed', { reason: 'INSUFFICIENT_SPACE' });
    s = await store.transition(s, 'checking');
    s = await store.transition(s, 'failed', { reason: 'CHANNEL_MISMATCH' });
    s = await store.transition(s, 'rolled_back', { reason: 'MANUAL_ROLLBACK' });
    s = await store.transition(s, 'rolled_back', { reason: 'MANUAL_ROLLBACK' });
    s = await store.transition(s, 'idle');
    // A health-check failure below the threshold is no rollback and no failure.
    assert.deepEqual(s.failureCounts, { INSUFFICIENT_SPACE: 2, CHANNEL_MISMATCH: 1 });
    assert.deepEqual(s.rollbackCounts, { MANUAL_ROLLBACK: 2 });
    const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(file.failure_counts, { INSUFFICIENT_SPACE: 2, CHANNEL_MISMATCH: 1 });
    assert.deepEqual((await store.read()).state.rollbackCounts, { MANUAL_ROLLBACK: 2 });
  });

  it('keeps the reason set bounded: non-codes and reasons beyond the limit count as OTHER', async () => {
    let s = await store.transition(idleState(), 'failed', { reason: 'not a code' });
    for (let i = 0; i < MAX_REASON_KEYS + 5; i++) {
      s = await store.transition(s, 'failed', { reason: `CODE_${i}` });
    }
    assert.equal(Object.keys(s.failureCounts).length, MAX_REASON_KEYS);
    assert.equal(s.failureCounts.OTHER, 1 + 5 + 1);
    assert.equal(s.failureCounts.CODE_0, 1);
  });

  it('record() stores a check without touching phase, updated_at or the counters', async () => {
    const s = await store.transition(idleState(), 'failed', { reason: 'ARCH_MISMATCH' });
    clock.advance(30);
    const r = await store.record(s, {
      lastCheckAt: clock.now().toISOString(),
      availableVersion: 'v2.0.0',
    });
    assert.equal(r.phase, 'failed');
    assert.equal(r.updatedAt, s.updatedAt);
    assert.deepEqual(r.failureCounts, { ARCH_MISMATCH: 1 });
    assert.deepEqual((await store.read()).state, r);
    assert.equal(r.lastCheckAt, '2026-03-01T12:00:30.000Z');
  });

  it('an older state.json without the keys loads, with them unset', () => {
    const s = parseStateFile(
      JSON.stringify({
        schema_version: 1,
        phase: 'activated',
        target_slot: 'B',
        to_version: 'v1.1.0',
        updated_at: '2026-02-01T00:00:00Z',
        attempt_count: 1,
        health_check_failures: 0,
      }),
    );
    assert.equal(s.phase, 'activated');
    assert.equal(s.phaseSince, undefined);
    assert.equal(s.activatedAt, undefined);
    assert.equal(s.lastCheckAt, undefined);
    assert.equal(s.lastApplyBytes, undefined);
    assert.deepEqual(s.failureCounts, {});
    assert.deepEqual(s.rollbackCounts, {});
  });

  it('malformed fleet keys are dropped, never a reason to forget a pending activation', async () => {
    await writeFile(
      path,
      JSON.stringify({
        phase: 'activated',
        target_slot: 'B',
        phase_since: 42,
        last_apply_bytes: -1,
        last_apply_seconds: 'slow',
        failure_counts: { 'bad key': 1, GOOD: 2, NEGATIVE: -1, FRACTION: 0.5 },
        rollback_counts: [1, 2],
      }),
    );
    const r = await store.read();
    assert.equal(r.corruptPath, undefined);
    assert.equal(r.state.phase, 'activated');
    assert.equal(r.state.targetSlot, 'B');
    assert.equal(r.state.phaseSince, undefined);
    assert.equal(r.state.lastApplyBytes, undefined);
    assert.equal(r.state.lastApplySeconds, undefined);
    assert.deepEqual(r.state.failureCounts, { GOOD: 2 });
    assert.deepEqual(r.state.rollbackCounts, {});
  });
});

describe('recordCheck', () => {
  const tmp = useTempDir('ks-check-record-');

  const clock = { now: () => new Date('2026-03-01T12:00:00Z') };
  const observation = { lastCheckAt: '2026-03-01T12:00:00.000Z', availableVersion: 'v1.2.0' };

  it('writes the observation onto the state as it is under the lock', async () => {
    const store = createStateStore(tmp.path('state.json'), clock, silentLogger);
    const staged = await store.transition(idleState(), 'checking', { toVersion: 'v1.2.0' });
    assert.equal(
      await recordCheck(store, tmp.path('update.lock'), observation, silentLogger),
      'recorded',
    );
    const { state } = await store.read();
    assert.deepEqual(state, { ...staged, ...observation });
  });

  it('skips, leaving state.json as it was, while another run holds the lock', async () => {
    const store = createStateStore(tmp.path('state.json'), clock, silentLogger);
    await store.transition(idleState(), 'checking');
    const before = await readFile(tmp.path('state.json'), 'utf8');
    // Held by a live process that is not this one (the test runner's parent).
    const lockPath = tmp.path('update.lock');
    await writeFile(lockPath, `${process.ppid}\n`);
    assert.equal(await recordCheck(store, lockPath, observation, silentLogger), 'locked');
    assert.equal(await readFile(tmp.path('state.json'), 'utf8'), before);
    // Once released, the next check records.
    await rm(lockPath);
    const lock = await acquireLock(lockPath);
    await lock.release();
    assert.equal(await recordCheck(store, lockPath, observation, silentLogger), 'recorded');
  });
});
