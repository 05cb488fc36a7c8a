/**
 * The healthcheck decision (src/agent/healthcheck.ts) over the agent's real deps
 * (createAgentContext on a simulated device: StateStore, run lock, dir slot store), with
 * real health checks (disk_writable: the data directory present → pass, removed →
 * DISK_NOT_WRITABLE). The boot environment is an in-memory BootEnv with GRUB's variable
 * semantics (docs/design.md §3.6) and the boot id is set by the test; the
 * grubenv-backed one is exercised by the CLI tests.
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { createAgentContext } from '../../src/agent/context.js';
import type { AgentDeps } from '../../src/agent/deps.js';
import {
  describeFailures,
  runHealthcheck,
  verificationTarget,
  type HealthcheckPolicy,
  type HealthcheckResult,
} from '../../src/agent/healthcheck.js';
import { idleState, type StateStore, type UpdateState } from '../../src/stores/state.js';
import { otherSlot, type BootEnv, type BootState, type Slot } from '../../src/bootenv/types.js';
import { waitForHealthy } from '../../src/health/run.js';
import { PassThrough } from 'node:stream';
import { createLogger, silentLogger } from '../../src/log.js';
import { DEFAULT_PATHS } from '../../src/paths.js';
import type { SlotStore } from '../../src/slots/types.js';
import { makeDevice, type Device } from '../helpers/device.js';
import { assertCode } from '../helpers/code-assert.js';

const devices: Device[] = [];
afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.cleanup()));
});

/** GRUB environment semantics in memory: active_slot, boot_counter, boot_success. */
class MemoryBootEnv implements BootEnv {
  readonly bootloader = 'grub';
  readonly store = '(memory)';
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
  /** The agent's deps, with the in-memory boot environment and the test's boot id. */
  deps: AgentDeps;
  /** This boot's id, as /proc/sys/kernel/random/boot_id would say. */
  bootId: string | undefined;
  check: HealthcheckPolicy['check'];
  run(autoRollbackAfter: number | undefined): Promise<HealthcheckResult>;
  healthy(yes: boolean): void;
  stateFile(): string;
}

/** A device that ran `activate` for slot B and rebooted into it (boot id changed). */
async function world(
  phase: UpdateState['phase'] = 'activated',
  running: Slot | 'unknown' = 'B',
): Promise<World> {
  const dev = await makeDevice();
  devices.push(dev);
  // Slot B holds the activated update (slot A the old one): either can be rolled back to.
  for (const file of ['vmlinuz', 'kubesolo-os.gz']) {
    copyFileSync(dev.path(`slots/a/${file}`), dev.path(`slots/b/${file}`));
  }
  writeFileSync(dev.path('slots/b/version'), 'v1.1.0\n');
  const root = dev.root;
  const dataDir = dev.path(DEFAULT_PATHS.dataDir);
  // Outside the data directory, which the tests remove to make disk_writable fail
  // (--state moves it the same way on a device).
  const statePath = '/state/state.json';
  const agent = await createAgentContext(
    { root, conf: undefined, state: statePath, configFlags: {}, strict: false },
    silentLogger,
  );
  const store = agent.deps.state;
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
  const w: World = {
    root,
    dataDir,
    store,
    boot,
    deps: { ...agent.deps, bootEnv: boot, bootId: () => Promise.resolve(w.bootId) },
    bootId: 'boot-after-reboot',
    check: () =>
      waitForHealthy({ log: silentLogger, root, required: ['disk_writable'] }, { timeoutMs: 0 }),
    run: (autoRollbackAfter) => runHealthcheck(w.deps, { autoRollbackAfter, check: w.check }),
    healthy(yes) {
      if (yes) mkdirSync(dataDir, { recursive: true });
      else rmSync(dataDir, { recursive: true, force: true });
    },
    stateFile: () => readFileSync(dev.path(statePath), 'utf8'),
  };
  return w;
}

describe('healthcheck decision', () => {
  it('healthy after an activation: markGood, phase success, failures reset, errors cleared', async () => {
    const w = await world();
    // One earlier failure on this boot, then a pass.
    w.healthy(false);
    const first = await w.run(3);
    assert.equal(first.action, 'failure_counted');
    w.healthy(true);
    const r = await w.run(3);
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
    const r = await w.run(undefined);
    assert.equal(r.action, 'committed');
    assert.equal((await w.store.read()).state.phase, 'success');
  });

  it('auto-rollback after exactly N consecutive failures, not before', async () => {
    const w = await world();
    w.healthy(false);
    for (const expected of [1, 2]) {
      const r = await w.run(3);
      assert.equal(r.exitCode, 5);
      assert.equal(r.action, 'failure_counted');
      assert.equal(r.failures, expected);
      assert.equal(r.rebootRequired, false);
      const { state } = await w.store.read();
      assert.equal(state.phase, 'activated');
      assert.equal(state.healthCheckFailures, expected);
      assertCode(state.reason, 'HEALTH_CHECK_FAILED');
      assert.match(state.lastError ?? '', /disk_writable \(DISK_NOT_WRITABLE\)/);
      assert.deepEqual(w.boot.calls, [], 'GRUB untouched before N');
    }
    const r = await w.run(3);
    assert.equal(r.exitCode, 5);
    assert.equal(r.action, 'rolled_back');
    assert.equal(r.failures, 3);
    assert.equal(r.rebootRequired, true);
    assert.deepEqual(w.boot.calls, ['forceRollback']);
    assert.deepEqual(w.boot.env, { activeSlot: 'A', bootCounter: 3, bootSuccess: true });
    const { state } = await w.store.read();
    assert.equal(state.phase, 'rolled_back');
    assertCode(state.reason, 'HEALTH_CHECK_FAILED');
    assert.match(
      state.lastError ?? '',
      /3 time\(s\) in a row: disk_writable \(DISK_NOT_WRITABLE\)/,
    );
    assert.match(w.stateFile(), /"reason": "HEALTH_CHECK_FAILED"/);
    // Afterwards the system is not post-activation: further failures only report.
    const later = await w.run(3);
    assert.equal(later.action, 'reported');
    assert.equal(later.exitCode, 5);
    assert.deepEqual(w.boot.calls, ['forceRollback']);
  });

  it('a pass in between resets the count: the next activation starts again from zero', async () => {
    const w = await world();
    w.healthy(false);
    await w.run(3);
    await w.run(3);
    w.healthy(true);
    assert.equal((await w.run(3)).action, 'committed');
    assert.equal((await w.store.read()).state.healthCheckFailures, 0);
    // A new update to slot A, activated and booted.
    let s = (await w.store.read()).state;
    s = await w.store.transition(s, 'checking', { toVersion: 'v1.2.0' });
    s = await w.store.transition(s, 'downloading');
    s = await w.store.transition(s, 'staged', { targetSlot: 'A' });
    await w.store.transition(s, 'activated', { activatedBootId: 'boot-after-reboot' });
    await w.boot.activate('A');
    w.boot.runningSlot = 'A';
    w.bootId = 'third-boot';
    w.healthy(false);
    const counts = [];
    for (let i = 0; i < 2; i++) counts.push((await w.run(3)).failures);
    assert.deepEqual(counts, [1, 2], 'two failures after the reset: no rollback yet');
    assert.equal((await w.store.read()).state.phase, 'activated');
    assert.equal((await w.run(3)).action, 'rolled_back');
  });

  it('without auto_rollback_after failures are only counted (GRUB’s boot counter is the backstop)', async () => {
    const w = await world();
    w.healthy(false);
    for (let i = 1; i <= 5; i++) {
      const r = await w.run(undefined);
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
    const r = await w.run(1);
    assert.equal(r.action, 'failure_counted');
    assert.equal(r.exitCode, 5);
    assert.match(r.note ?? '', /slot A holds no bootable image/);
    const codes = logged
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { code?: string }).code);
    // Logged by the run that exits 5 (asserted above).
    assertCode(
      codes.find((c) => c === 'ROLLBACK_IMPOSSIBLE'),
      'ROLLBACK_IMPOSSIBLE',
      5,
      logged,
    );
    assert.deepEqual(w.boot.calls, []);
  });

  it('not after an activation: only reports, state file and GRUB untouched', async () => {
    const w = await world('success');
    const before = w.stateFile();
    w.healthy(false);
    const r = await w.run(1);
    assert.equal(r.exitCode, 5);
    assert.equal(r.action, 'reported');
    assert.match(r.note ?? '', /phase success/);
    w.healthy(true);
    assert.equal((await w.run(1)).exitCode, 0);
    assert.equal(w.stateFile(), before);
    assert.deepEqual(w.boot.calls, []);
  });

  it('activated but not rebooted yet: a healthy verdict must not commit the untried slot', async () => {
    const w = await world('activated', 'A');
    w.bootId = 'boot-before-reboot';
    const r = await w.run(1);
    assert.equal(r.action, 'reported');
    assert.equal(r.exitCode, 0);
    assert.match(r.note ?? '', /not booted yet/);
    assert.deepEqual(w.boot.calls, []);
    assert.equal((await w.store.read()).state.phase, 'activated');
  });

  it('running slot not the target, or unknown: reported, nothing committed', async () => {
    const a = await world('activated', 'A');
    // With a boot id the reconcile would record the fallback (BOOT_FALLBACK, the next
    // test); without one it cannot tell a reboot happened, and the decision refuses.
    a.bootId = undefined;
    const ra = await a.run(1);
    assert.equal(ra.action, 'reported');
    assert.match(ra.note ?? '', /running slot A is not the target slot B/);
    const u = await world('activated', 'unknown');
    const ru = await u.run(1);
    assert.equal(ru.action, 'reported');
    assert.match(ru.note ?? '', /running slot unknown/);
    assert.deepEqual([...a.boot.calls, ...u.boot.calls], []);
  });

  it('rebooted onto the old slot: the boot fallback is recorded first, then only reported', async () => {
    const w = await world('activated', 'A');
    const r = await w.run(1);
    assert.equal(r.action, 'reported');
    const { state } = await w.store.read();
    assert.equal(state.phase, 'rolled_back');
    assertCode(state.reason, 'BOOT_FALLBACK');
    assert.deepEqual(w.boot.calls, []);
  });

  it('retries only when there is a trial to judge; otherwise the checks run once', async () => {
    const modes: boolean[] = [];
    for (const [phase, running] of [
      ['activated', 'B'],
      ['success', 'B'],
      ['activated', 'A'],
    ] as const) {
      const w = await world(phase, running);
      const check = w.check;
      w.check = (mode) => {
        modes.push(mode.retry);
        return check(mode);
      };
      await w.run(3);
    }
    // The trial of slot B is judged (retry); after success, or on the old slot, once.
    assert.deepEqual(modes, [true, false, false]);
  });

  it('a state change while the checks ran (manual rollback) wins over the verdict', async () => {
    const w = await world();
    const check = w.check;
    w.check = async (mode) => {
      const { state } = await w.store.read();
      await w.store.transition(state, 'rolled_back', { reason: 'MANUAL_ROLLBACK' });
      return check(mode);
    };
    const r = await w.run(1);
    assert.equal(r.action, 'reported');
    assert.match(r.note ?? '', /state changed to rolled_back/);
    assertCode((await w.store.read()).state.reason, 'MANUAL_ROLLBACK');
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
