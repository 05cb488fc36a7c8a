/**
 * What `healthcheck` does with the verdict (issue #6 §3, docs/design.md §2): commit the new
 * slot, count a failure, or roll back. The checks themselves live in src/health/; all
 * I/O arrives through the deps so this decision logic is tested without root.
 *
 * Only a post-activation boot of the target slot is ever committed or rolled back:
 * phase `activated` (or `verifying`, when a previous run was interrupted), the running
 * kernel booted from `target_slot`, and GRUB's active slot is that slot. Anything else
 * is reported and changes nothing — in particular a health pass before the reboot
 * must never mark the untried slot good.
 */
import { otherSlot, type BootState } from '../bootenv/types.js';
import type { HealthOptions, HealthReport } from '../health/types.js';
import { parseHealthChecks, waitForHealthy, type WaitResult } from '../health/run.js';
import type { AgentContext } from './context.js';
import type { AgentDeps } from './deps.js';
import { recordCommittedFloor } from '../stores/fleet-store.js';
import { attemptIdentity, rememberOutcome } from './lifecycle/memory.js';
import { reconcile } from './lifecycle/reconcile.js';
import type { UpdateState } from '../stores/state.js';

export type HealthcheckAction =
  /** Healthy after an activation: boot_success=1, phase success. */
  | 'committed'
  /** Unhealthy after an activation: health_check_failures + 1, still activated. */
  | 'failure_counted'
  /** Unhealthy for the N-th consecutive time: GRUB pointed back at the old slot. */
  | 'rolled_back'
  /** Not a post-activation boot of the target slot: verdict reported, nothing changed. */
  | 'reported';

export interface HealthcheckPolicy {
  /** `--auto-rollback-after N` / `auto_rollback_after=`: roll back at N consecutive failures. */
  autoRollbackAfter: number | undefined;
  /**
   * Run the checks: with `retry`, until they pass or the timeout expires; without,
   * once (there is no trial to judge, so waiting for a pass would decide nothing).
   */
  check: (mode: { retry: boolean }) => Promise<WaitResult>;
}

export interface HealthcheckResult {
  exitCode: 0 | 5;
  action: HealthcheckAction;
  report: HealthReport;
  attempts: number;
  /** State after the command (unchanged when only reporting). */
  state: UpdateState;
  /** Boot environment as found. */
  boot: BootState;
  /** Consecutive failed health checks of this activation (after this run). */
  failures: number;
  /** A rollback was written to GRUB: the old slot runs only after a reboot. */
  rebootRequired: boolean;
  /** Why nothing was committed or rolled back (reported only). */
  note?: string;
}

/** Is this a boot of the activated slot that the verdict may commit or roll back? */
export function verificationTarget(
  state: UpdateState,
  boot: BootState,
  currentBootId: string | undefined,
): { verify: true } | { verify: false; note: string } {
  if (state.phase !== 'activated' && state.phase !== 'verifying') {
    return { verify: false, note: `phase ${state.phase}: not after an activation, only reporting` };
  }
  const target = state.targetSlot;
  if (target === undefined) {
    return { verify: false, note: `phase ${state.phase} without a target slot, only reporting` };
  }
  if (
    state.activatedBootId !== undefined &&
    currentBootId !== undefined &&
    state.activatedBootId === currentBootId
  ) {
    return { verify: false, note: `slot ${target} is activated but not booted yet (reboot first)` };
  }
  if (boot.runningSlot !== target) {
    return {
      verify: false,
      note:
        boot.runningSlot === undefined
          ? `running slot unknown (no kubesolo.slot= on the kernel command line): cannot confirm slot ${target} is running, not committing`
          : `running slot ${boot.runningSlot} is not the target slot ${target}`,
    };
  }
  if (boot.activeSlot !== target) {
    return {
      verify: false,
      note: `GRUB's active slot is ${boot.activeSlot}, not the target slot ${target}: not committing`,
    };
  }
  return { verify: true };
}

/** "node_ready (NODE_NOT_READY), kube_system (KUBE_SYSTEM_NOT_STABLE)": for last_error. */
export function describeFailures(report: HealthReport): string {
  return report.checks
    .filter((c) => c.verdict === 'fail')
    .map((c) => `${c.name} (${c.reason})`)
    .join(', ');
}

/** The run lock around state changes only (not the long check wait); best effort on a
 * read-only or full state partition: the commit is GRUB's. */
async function withLock<T>(deps: AgentDeps, work: () => Promise<T>): Promise<T> {
  const lock = await deps.lock('optional');
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** A health-check rollback as the device remembers it: quarantined. */
const HEALTH_ROLLBACK = {
  outcome: 'rolled_back',
  reason: 'HEALTH_CHECK_FAILED',
  quarantine: 'HEALTH_CHECK_FAILED',
} as const;

export async function runHealthcheck(
  deps: AgentDeps,
  policy: HealthcheckPolicy,
): Promise<HealthcheckResult> {
  const { state: store, bootEnv, log } = deps;
  const currentBootId = await deps.bootId();

  // Step 1 (under the lock): record a boot fallback if there was one (the lifecycle's
  // reconcile), then enter `verifying` if this boot is the one to judge.
  const start = await withLock(deps, async () => {
    const { state, boot } = await reconcile(deps);
    const target = verificationTarget(state, boot, currentBootId);
    if (!target.verify) return { state, boot, note: target.note };
    const verifying =
      state.phase === 'verifying' ? state : await store.transition(state, 'verifying');
    return { state: verifying, boot, note: undefined };
  });
  const boot = start.boot;

  // Step 2 (no lock: may take minutes): run the checks. Without a trial to judge, once:
  // retrying for the whole timeout would only delay a report that changes nothing.
  if (start.note !== undefined) log.info(`${start.note}; running the checks once`);
  const result = await policy.check({ retry: start.note === undefined });
  const { report } = result;
  const base = { report, attempts: result.attempts, boot, rebootRequired: false };

  if (start.note !== undefined) {
    return {
      ...base,
      exitCode: report.ok ? 0 : 5,
      action: 'reported',
      state: start.state,
      failures: start.state.healthCheckFailures,
      note: start.note,
    };
  }

  // Step 3 (under the lock again): act, unless someone changed the state meanwhile
  // (an operator's manual rollback wins over a verdict computed before it).
  return withLock(deps, async () => {
    const { state } = await store.recover();
    if (state.phase !== 'verifying' || state.targetSlot !== start.state.targetSlot) {
      const note = `state changed to ${state.phase} while checking; only reporting`;
      log.warn(note);
      return {
        ...base,
        exitCode: report.ok ? 0 : 5,
        action: 'reported' as const,
        state,
        failures: state.healthCheckFailures,
        note,
      };
    }

    if (report.ok) {
      // docs/design.md §2: success only after a health-checked boot of the new slot.
      await bootEnv.markGood();
      const done = await store.transition(state, 'success', {
        healthCheckFailures: 0,
        lastError: undefined,
        reason: undefined,
      });
      // After the commit: the floor never keeps a healthy slot from being kept.
      await recordCommittedFloor(deps.fleet, done, log);
      await rememberOutcome(deps, attemptIdentity(done), { outcome: 'committed' });
      log.info('health checks passed: new slot committed', {
        slot: state.targetSlot,
        version: state.toVersion,
      });
      return {
        ...base,
        exitCode: 0 as const,
        action: 'committed' as const,
        state: done,
        failures: 0,
      };
    }

    const failures = state.healthCheckFailures + 1;
    const failed = describeFailures(report);
    const n = policy.autoRollbackAfter;
    const target = state.targetSlot!;
    // Never point GRUB at a slot with nothing to boot (docs/design.md §2: never unbootable).
    const otherBootable = await deps.slots.hasBootableImage(otherSlot(target));
    const thresholdReached = n !== undefined && n > 0 && failures >= n;
    if (thresholdReached && otherBootable) {
      await bootEnv.forceRollback();
      const rolled = await store.transition(state, 'rolled_back', {
        healthCheckFailures: failures,
        reason: 'HEALTH_CHECK_FAILED',
        lastError: `health checks failed ${failures} time(s) in a row: ${failed}`,
      });
      log.error('health checks failed: rolled back; reboot to run the previous slot', {
        code: 'HEALTH_CHECK_FAILED',
        failures,
        failed: report.failed,
      });
      // docs/operating.md "Failed releases": the next scheduled run does not install it again.
      await rememberOutcome(deps, attemptIdentity(rolled), HEALTH_ROLLBACK);
      return {
        ...base,
        exitCode: 5 as const,
        action: 'rolled_back' as const,
        state: rolled,
        failures,
        rebootRequired: true,
      };
    }

    const note = thresholdReached
      ? `slot ${otherSlot(target)} holds no bootable image: not rolling back`
      : undefined;
    if (note) log.error(note, { code: 'ROLLBACK_IMPOSSIBLE', failures });
    const counted = await store.transition(state, 'activated', {
      healthCheckFailures: failures,
      reason: 'HEALTH_CHECK_FAILED',
      lastError: `health checks failed: ${failed}`,
    });
    log.warn('health checks failed', {
      code: 'HEALTH_CHECK_FAILED',
      failures,
      autoRollbackAfter: n,
      failed: report.failed,
    });
    return {
      ...base,
      exitCode: 5 as const,
      action: 'failure_counted' as const,
      state: counted,
      failures,
      ...(note ? { note } : {}),
    };
  });
}

export interface HealthcheckOptions {
  /** Retry for this long (default: healthcheck_timeout). */
  timeoutSeconds: number | undefined;
  /** Pause between attempts. */
  intervalSeconds: number;
  /** Kubernetes node name of this device (default: the host name). */
  nodeName: string | undefined;
}

/** `healthcheck` on a device: the configured checks (src/health/) judged by runHealthcheck. */
export function healthcheckDevice(
  agent: AgentContext,
  options: HealthcheckOptions,
): Promise<HealthcheckResult> {
  const { settings, paths, deps } = agent;
  const timeoutMs = (options.timeoutSeconds ?? settings.healthcheckTimeout) * 1000;
  const healthOptions: HealthOptions = {
    root: paths.root,
    required: parseHealthChecks(settings.healthChecks),
    kubeconfig: { root: paths.root, kubeconfigPath: settings.kubeconfig, env: process.env },
    stableSeconds: settings.healthStableSeconds,
    probeUrl: settings.healthcheckUrl,
    clock: deps.clock,
    log: deps.log,
    ...(options.nodeName !== undefined ? { nodeName: options.nodeName } : {}),
  };
  return runHealthcheck(deps, {
    autoRollbackAfter: settings.autoRollbackAfter,
    check: ({ retry }) =>
      waitForHealthy(healthOptions, {
        timeoutMs: retry ? timeoutMs : 0,
        intervalMs: options.intervalSeconds * 1000,
        clock: deps.clock,
        onAttempt: (report, attempt) => {
          if (!report.ok) {
            deps.log.info('health checks not passing yet', {
              attempt,
              failed: report.checks
                .filter((c) => c.verdict === 'fail')
                .map((c) => `${c.name}:${c.reason}`),
            });
          }
        },
      }),
  });
}
