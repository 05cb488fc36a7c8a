/** What the `metrics` command feeds the renderer from state.json and the boot side. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { idleState, type UpdateState } from '../../src/stores/state.js';
import { BUILD_INFO, metricsInput } from '../../src/agent/metrics.js';

const boot = { activeSlot: 'B', runningSlot: 'B' };

function state(changes: Partial<UpdateState>): UpdateState {
  return { ...idleState(), ...changes };
}

describe('metricsInput', () => {
  it('maps every recorded fleet field', () => {
    const input = metricsInput(
      state({
        phase: 'success',
        updatedAt: '2026-03-01T12:05:00.000Z',
        phaseSince: '2026-03-01T12:04:00.000Z',
        activatedAt: '2026-03-01T12:00:00.000Z',
        lastCheckAt: '2026-03-01T11:00:00.000Z',
        availableVersion: 'v1.1.0',
        lastApplyBytes: 1000,
        lastApplySeconds: 2.5,
        lastApplyReusedBytes: 5000,
        deltaFallbackCounts: { DELTA_PIECE_MISMATCH: 1 },
        reason: undefined,
        failureCounts: { DOWNLOAD_FAILED: 1 },
        rollbackCounts: { BOOT_FALLBACK: 2 },
      }),
      boot,
      'v1.1.0',
      'stable',
    );
    assert.deepEqual(input, {
      build: BUILD_INFO,
      phase: 'success',
      attemptCount: 0,
      healthCheckFailures: 0,
      activeSlot: 'B',
      runningSlot: 'B',
      version: 'v1.1.0',
      channel: 'stable',
      lastTransition: new Date('2026-03-01T12:04:00.000Z'),
      reason: undefined,
      failureCounts: { DOWNLOAD_FAILED: 1 },
      rollbackCounts: { BOOT_FALLBACK: 2 },
      lastCheck: new Date('2026-03-01T11:00:00.000Z'),
      availableVersion: 'v1.1.0',
      activatedAt: new Date('2026-03-01T12:00:00.000Z'),
      lastApplyBytes: 1000,
      lastApplySeconds: 2.5,
      lastApplyReusedBytes: 5000,
      deltaFallbackCounts: { DELTA_PIECE_MISMATCH: 1 },
    });
  });

  it('a state.json from an older agent: updated_at stands in for phase_since and activated_at', () => {
    const onTrial = metricsInput(
      state({ phase: 'verifying', updatedAt: '2026-03-01T12:05:00.000Z' }),
      boot,
      'v1.1.0',
      undefined,
    );
    assert.deepEqual(onTrial.lastTransition, new Date('2026-03-01T12:05:00.000Z'));
    assert.deepEqual(onTrial.activatedAt, new Date('2026-03-01T12:05:00.000Z'));
    // Not on trial: no activation time is made up.
    const idle = metricsInput(
      state({ phase: 'idle', updatedAt: '2026-03-01T12:05:00.000Z' }),
      boot,
      'v1.1.0',
      undefined,
    );
    assert.equal(idle.activatedAt, undefined);
  });

  it('an unreadable time is left out rather than exported as NaN', () => {
    const input = metricsInput(
      state({ phase: 'idle', updatedAt: 'yesterday', lastCheckAt: 'soon' }),
      boot,
      undefined,
      undefined,
    );
    assert.equal(input.lastTransition, undefined);
    assert.equal(input.lastCheck, undefined);
  });

  it('an unreadable state: no phase, no counters, the boot side still reported', () => {
    assert.deepEqual(metricsInput(undefined, boot, 'v1.1.0', 'stable'), {
      build: BUILD_INFO,
      phase: '',
      activeSlot: 'B',
      runningSlot: 'B',
      version: 'v1.1.0',
      channel: 'stable',
    });
  });
});
