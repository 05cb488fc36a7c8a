/**
 * The healthcheck decision (src/agent/healthcheck.ts) over the real StateStore and run
 * lock in a temp directory, with real health checks (disk_writable: the data directory
 * present → pass, removed → DISK_NOT_WRITABLE). The boot environment is an in-memory
 * BootEnv with GRUB's variable semantics (docs/design.md §3.6); the grubenv-backed one is
 * exercised by the CLI tests.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  describeFailures,
  runHealthcheck,
  verificationTarget,
  type HealthcheckDeps,
} from '../../src/agent/healthcheck.js';
import { acquireLock } from '../../src/agent/lock.js';
import {
  createStateStore,
  idleState,
  type StateStore,
  type UpdateState,
} from '../../src/agent/state.js';
import { otherSlot, type BootEnv, type BootState, type Slot } from '../../src/bootenv/types.js';
import { waitForHealthy } from '../../src/health/run.js';
import { PassThrough } from 'node:stream';
import { createLogger, silentLogger } from '../../src/log.js';
import { DEFAULT_PATHS } from '../../src/paths.js';
import type { SlotStore } from '../../src/slots/types.js';

const top = mkdtempSync(join(tmpdir(), 'hc-decision-'));
after(() => rmSync(top, { recursive: true, force: true }));
let n = 0;

/** GRUB environment semantics in memory: active_slot, boot_counter, boot_success. */
class MemoryBootEnv implements BootEnv {
  calls: string[] = [];
  constructor(
    public env: { activeSlot: Slot; bootCounter: number; bootSuccess: boolean },
    public runningSlot: Slot | undefined,
  ) {}
  read(): Promise<BootState> {
    return Promise.resolve({
      activeSlot: this.env.activeSlot,
      passiveSlot: otherSlot(this.env.activeSlot),
      runningSlot: this.runningSlot,
      bootCounter: this.env.bootCounter,
      bootSuccess: this.env.bootSuccess,
    });
  }
  activate(slot: Slot): Promise<void> {
    this.calls.push(`activate ${slot}`);
    this.env = { activeSlot: slot, bootCounter: 3, bootSuccess: false };
    return Promise.resolve();
  }
  markGood(): Promise<void> {
    this.calls.push('markGood');
    this.env = { ...this.env, bootCounter: 3, bootSuccess: true };
    return Promise.resolve();
  }
  forceRollback(): Promise<void> {
    this.calls.push('forceRollback');
    this.env = { activeSlot: otherSlot(this.env.activeSlot), bootCounter: 3, bootSuccess: true };
    return Promise.resolve();
  }
}

interface World {
  root: string;
  dataDir: string;
  store: StateStore;
  boot: MemoryBootEnv;
  deps: HealthcheckDeps;
  healthy(yes: boolean): void;
  stateFile(): string;
}

/** A device that ran `activate` for slot B and rebooted into it (boot id changed). */
async function world(
  phase: UpdateState['phase'] = 'activated',
  running: Slot | 'unknown' = 'B',
): Promise<World> {
  const root = join(top, `w${++n}`);
  const dataDir = join(root, DEFAULT_PATHS.dataDir);
  mkdirSync(dataDir, { recursive: true });
  // Outside the data directory, which the tests remove to make disk_writable fail
  // (--state moves it the same way on a device).
  const statePath = join(root, 'state/state.json');
  const clock = { now: () => new Date() };
  const store = createStateStore(statePath, clock, silentLogger);
  let s = await store.transition(idleState(), 'checking', {
    fromVersion: 'v1.0.0',
    toVersion: 'v1.1.0',
    attemptCount: 1,
  });
  s = await store.transition(s, 'downloading');
  s = await store.transition(s, 'staged', { targetSlot: 'B' });
  s = await store.transition(s, 'activated', { activatedBootId: 'boot-before-reboot' });
  if (phase !== 'activated') await store.transition(s, phase);
  const boot = new MemoryBootEnv(
    { activeSlot: 'B', bootCounter: 2, bootSuccess: false },
    running === 'unknown' ? undefined : running,
  );
  const check = () => waitForHealthy({ root, required: ['disk_writable'] }, { timeoutMs: 0 });
  return {
    root,
    dataDir,
    store,
    boot,
    deps: {
      store,
      bootEnv: boot,
      log: silentLogger,
      lock: () => acquireLock(join(root, 'state/lock')),
      check,
      currentBootId: 'boot-after-reboot',
    },
    healthy(yes) {
      if (yes) mkdirSync(dataDir, { recursive: true });
      else rmSync(dataDir, { recursive: true, force: true });
    },
    stateFile: () => readFileSync(statePath, 'utf8'),
  };
}

describe('healthcheck decision', () => {
  it('healthy after an activation: markGood, phase success, failures reset, errors cleared', async () => {
    const w = await world();
    // One earlier failure on this boot, then a pass.
    w.healthy(false);
    const first = await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
    assert.equal(first.action, 'failure_counted');
    w.healthy(true);
    const r = await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
    assert.equal(r.exitCode, 0);
    assert.equal(r.action, 'committed');
    assert.deepEqual(w.boot.calls, ['markGood']);
    assert.equal(w.boot.env.bootSuccess, true);
    const { state } = await w.store.read();
    assert.equal(state.phase, 'success');
    assert.equal(state.healthCheckFailures, 0);
    assert.equal(state.lastError, undefined);
    assert.equal(state.reason, undefined);
    assert.equal(state.toVersion, 'v1.1.0');
  });

  it('an interrupted earlier run (phase verifying) is judged like activated', async () => {
    const w = await world('verifying');
    const r = await runHealthcheck(w.deps, { autoRollbackAfter: undefined });
    assert.equal(r.action, 'committed');
    assert.equal((await w.store.read()).state.phase, 'success');
  });

  it('auto-rollback after exactly N consecutive failures, not before', async () => {
    const w = await world();
    w.healthy(false);
    for (const expected of [1, 2]) {
      const r = await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
      assert.equal(r.exitCode, 5);
      assert.equal(r.action, 'failure_counted');
      assert.equal(r.failures, expected);
      assert.equal(r.rebootRequired, false);
      const { state } = await w.store.read();
      assert.equal(state.phase, 'activated');
      assert.equal(state.healthCheckFailures, expected);
      assert.equal(state.reason, 'HEALTH_CHECK_FAILED');
      assert.match(state.lastError ?? '', /disk_writable \(DISK_NOT_WRITABLE\)/);
      assert.deepEqual(w.boot.calls, [], 'GRUB untouched before N');
    }
    const r = await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
    assert.equal(r.exitCode, 5);
    assert.equal(r.action, 'rolled_back');
    assert.equal(r.failures, 3);
    assert.equal(r.rebootRequired, true);
    assert.deepEqual(w.boot.calls, ['forceRollback']);
    assert.deepEqual(w.boot.env, { activeSlot: 'A', bootCounter: 3, bootSuccess: true });
    const { state } = await w.store.read();
    assert.equal(state.phase, 'rolled_back');
    assert.equal(state.reason, 'HEALTH_CHECK_FAILED');
    assert.match(
      state.lastError ?? '',
      /3 time\(s\) in a row: disk_writable \(DISK_NOT_WRITABLE\)/,
    );
    assert.match(w.stateFile(), /"reason": "HEALTH_CHECK_FAILED"/);
    // Afterwards the system is not post-activation: further failures only report.
    const later = await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
    assert.equal(later.action, 'reported');
    assert.equal(later.exitCode, 5);
    assert.deepEqual(w.boot.calls, ['forceRollback']);
  });

  it('a pass in between resets the count: the next activation starts again from zero', async () => {
    const w = await world();
    w.healthy(false);
    await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
    await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
    w.healthy(true);
    assert.equal((await runHealthcheck(w.deps, { autoRollbackAfter: 3 })).action, 'committed');
    assert.equal((await w.store.read()).state.healthCheckFailures, 0);
    // A new update to slot A, activated and booted.
    let s = (await w.store.read()).state;
    s = await w.store.transition(s, 'checking', { toVersion: 'v1.2.0' });
    s = await w.store.transition(s, 'downloading');
    s = await w.store.transition(s, 'staged', { targetSlot: 'A' });
    await w.store.transition(s, 'activated', { activatedBootId: 'boot-after-reboot' });
    await w.boot.activate('A');
    w.boot.runningSlot = 'A';
    w.deps.currentBootId = 'third-boot';
    w.healthy(false);
    const counts = [];
    for (let i = 0; i < 2; i++)
      counts.push((await runHealthcheck(w.deps, { autoRollbackAfter: 3 })).failures);
    assert.deepEqual(counts, [1, 2], 'two failures after the reset: no rollback yet');
    assert.equal((await w.store.read()).state.phase, 'activated');
    assert.equal((await runHealthcheck(w.deps, { autoRollbackAfter: 3 })).action, 'rolled_back');
  });

  it('without auto_rollback_after failures are only counted (GRUB’s boot counter is the backstop)', async () => {
    const w = await world();
    w.healthy(false);
    for (let i = 1; i <= 5; i++) {
      const r = await runHealthcheck(w.deps, { autoRollbackAfter: undefined });
      assert.equal(r.failures, i);
      assert.equal(r.action, 'failure_counted');
    }
    assert.deepEqual(w.boot.calls, []);
  });

  it('does not roll back onto a slot with nothing to boot', async () => {
    const w = await world();
    w.healthy(false);
    const emptySlots: Pick<SlotStore, 'hasBootableImage'> = {
      hasBootableImage: (slot) => Promise.resolve(slot === 'B'),
    };
    w.deps.slots = emptySlots as SlotStore;
    const stream = new PassThrough();
    let logged = '';
    stream.on('data', (d: Buffer) => (logged += d.toString()));
    w.deps.log = createLogger({ level: 'info', json: true, stream });
    const r = await runHealthcheck(w.deps, { autoRollbackAfter: 1 });
    assert.equal(r.action, 'failure_counted');
    assert.equal(r.exitCode, 5);
    assert.match(r.note ?? '', /slot A holds no bootable image/);
    const codes = logged
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { code?: string }).code);
    assert.ok(codes.includes('ROLLBACK_IMPOSSIBLE'), logged);
    assert.deepEqual(w.boot.calls, []);
  });

  it('not after an activation: only reports, state file and GRUB untouched', async () => {
    const w = await world('success');
    const before = w.stateFile();
    w.healthy(false);
    const r = await runHealthcheck(w.deps, { autoRollbackAfter: 1 });
    assert.equal(r.exitCode, 5);
    assert.equal(r.action, 'reported');
    assert.match(r.note ?? '', /phase success/);
    w.healthy(true);
    assert.equal((await runHealthcheck(w.deps, { autoRollbackAfter: 1 })).exitCode, 0);
    assert.equal(w.stateFile(), before);
    assert.deepEqual(w.boot.calls, []);
  });

  it('activated but not rebooted yet: a healthy verdict must not commit the untried slot', async () => {
    const w = await world('activated', 'A');
    w.deps.currentBootId = 'boot-before-reboot';
    const r = await runHealthcheck(w.deps, { autoRollbackAfter: 1 });
    assert.equal(r.action, 'reported');
    assert.equal(r.exitCode, 0);
    assert.match(r.note ?? '', /not booted yet/);
    assert.deepEqual(w.boot.calls, []);
    assert.equal((await w.store.read()).state.phase, 'activated');
  });

  it('running slot not the target, or unknown: reported, nothing committed', async () => {
    const a = await world('activated', 'A');
    const ra = await runHealthcheck(a.deps, { autoRollbackAfter: 1 });
    assert.equal(ra.action, 'reported');
    assert.match(ra.note ?? '', /running slot A is not the target slot B/);
    const u = await world('activated', 'unknown');
    const ru = await runHealthcheck(u.deps, { autoRollbackAfter: 1 });
    assert.equal(ru.action, 'reported');
    assert.match(ru.note ?? '', /running slot unknown/);
    assert.deepEqual([...a.boot.calls, ...u.boot.calls], []);
  });

  it('retries only when there is a trial to judge; otherwise the checks run once', async () => {
    const modes: boolean[] = [];
    for (const [phase, running] of [
      ['activated', 'B'],
      ['success', 'B'],
      ['activated', 'A'],
    ] as const) {
      const w = await world(phase, running);
      const check = w.deps.check;
      w.deps.check = (mode) => {
        modes.push(mode.retry);
        return check(mode);
      };
      await runHealthcheck(w.deps, { autoRollbackAfter: 3 });
    }
    // The trial of slot B is judged (retry); after success, or on the old slot, once.
    assert.deepEqual(modes, [true, false, false]);
  });

  it('a state change while the checks ran (manual rollback) wins over the verdict', async () => {
    const w = await world();
    const check = w.deps.check;
    w.deps.check = async (mode) => {
      const { state } = await w.store.read();
      await w.store.transition(state, 'rolled_back', { reason: 'MANUAL_ROLLBACK' });
      return check(mode);
    };
    const r = await runHealthcheck(w.deps, { autoRollbackAfter: 1 });
    assert.equal(r.action, 'reported');
    assert.match(r.note ?? '', /state changed to rolled_back/);
    assert.equal((await w.store.read()).state.reason, 'MANUAL_ROLLBACK');
    assert.deepEqual(w.boot.calls, []);
  });

  it('verificationTarget and describeFailures edge cases', () => {
    const boot: BootState = {
      activeSlot: 'A',
      passiveSlot: 'B',
      runningSlot: 'B',
      bootCounter: 3,
      bootSuccess: false,
    };
    const s = { ...idleState(), phase: 'activated' as const };
    assert.match(
      (verificationTarget(s, boot, undefined) as { note: string }).note,
      /without a target slot/,
    );
    const t = { ...s, targetSlot: 'B' as const };
    assert.match(
      (verificationTarget(t, boot, undefined) as { note: string }).note,
      /GRUB's active slot is A/,
    );
    assert.deepEqual(verificationTarget(t, { ...boot, activeSlot: 'B' }, undefined), {
      verify: true,
    });
    assert.equal(
      describeFailures({
        ok: false,
        failed: ['node_ready'],
        startedAt: '',
        durationMs: 0,
        checks: [
          { name: 'apiserver', verdict: 'pass', reason: 'OK', message: '', durationMs: 1 },
          {
            name: 'node_ready',
            verdict: 'fail',
            reason: 'NODE_NOT_READY',
            message: '',
            durationMs: 1,
          },
          {
            name: 'kube_system',
            verdict: 'fail',
            reason: 'KUBE_TIMEOUT',
            message: '',
            durationMs: 1,
          },
        ],
      }),
      'node_ready (NODE_NOT_READY), kube_system (KUBE_TIMEOUT)',
    );
  });
});
