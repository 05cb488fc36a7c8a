/**
 * The reconciliation every command runs first (docs/design.md §2 "Report the truth"):
 * read the state and the boot environment, and record what happened at boot (a
 * fallback to the old slot, an activation whose state write was lost). No direct I/O:
 * everything goes through AgentDeps.
 */
import type { BootState } from '../../bootenv/types.js';
import { toKubesoloError } from '../../errors.js';
import type { AgentDeps } from '../deps.js';
import type { Phase } from '../../stores/phases.js';
import { nextState, type UpdateState } from '../../stores/state.js';
import { attemptIdentity, rememberOutcome } from './memory.js';

/**
 * How reconcile records what it finds: `required` (a failed state write fails the
 * command), `best-effort` (logged; the command goes on with the state in memory: a
 * rollback must work on a read-only state partition), `none` (nothing written: the
 * read-only `status`, which reports the reconciled view).
 */
export type RecordMode = 'required' | 'best-effort' | 'none';

/** Read state and boot environment, and record what happened at boot (fallbacks). */
export async function reconcile(
  deps: AgentDeps,
  mode: RecordMode = 'required',
): Promise<{ state: UpdateState; boot: BootState }> {
  const record = (from: UpdateState, phase: Phase, changes: Partial<UpdateState>) =>
    recordTransition(deps, mode, from, phase, changes);
  // A corrupt state.json: status reports it (STATE_CORRUPT); a command that writes, under
  // the run lock, keeps it aside and starts from idle.
  let { state } = await (mode === 'none' ? deps.state.read() : deps.state.recover());
  const boot = await deps.bootEnv.read();
  const target = state.targetSlot;

  if ((state.phase === 'activated' || state.phase === 'verifying') && target) {
    const bootId = await deps.bootId();
    const rebooted =
      bootId !== undefined &&
      state.activatedBootId !== undefined &&
      bootId !== state.activatedBootId;
    // GRUB switched back (counter ran out) or we are up again on the old slot after a
    // reboot: the new slot did not make it. docs/design.md §2 "Report the truth".
    if (
      boot.runningSlot !== undefined &&
      boot.runningSlot !== target &&
      (rebooted || boot.activeSlot !== target)
    ) {
      const runningVersion = await deps.slots.readVersion(boot.runningSlot);
      const message = `slot ${target} (${state.toVersion ?? '?'}) did not boot healthy; the bootloader fell back to slot ${boot.runningSlot} (${runningVersion ?? 'unknown version'})`;
      deps.log.warn(message, {
        code: 'BOOT_FALLBACK',
        runningSlot: boot.runningSlot,
        runningVersion,
      });
      state = await record(state, 'rolled_back', {
        reason: 'BOOT_FALLBACK',
        lastError: message,
        fromVersion: runningVersion ?? state.fromVersion,
      });
      // The bootloader fell back (the boot counter ran out: a panic, a hang the watchdog
      // rebooted, a health check that never passed): the release is not tried again.
      if (mode !== 'none') {
        await rememberOutcome(deps, attemptIdentity(state), {
          outcome: 'rolled_back',
          reason: 'BOOT_FALLBACK',
          quarantine: 'BOOT_FALLBACK',
        });
      }
    }
  } else if (
    state.phase === 'staged' &&
    target &&
    boot.activeSlot === target &&
    !boot.bootSuccess
  ) {
    // The GRUB environment was flipped but the state write was lost (power cut between
    // the two): record the activation that really happened.
    deps.log.warn('found an unrecorded activation; recording it', { code: 'ACTIVATION_RECOVERED' });
    state = await record(state, 'activated', { activatedBootId: undefined });
  }
  return { state, boot };
}

export async function recordTransition(
  deps: AgentDeps,
  mode: RecordMode,
  from: UpdateState,
  phase: Phase,
  changes: Partial<UpdateState>,
): Promise<UpdateState> {
  if (mode === 'none') return nextState(from, phase, changes, deps.clock.now());
  try {
    return await deps.state.transition(from, phase, changes);
  } catch (err) {
    if (mode === 'required') throw err;
    deps.log.warn('could not record the new state; going on without it', {
      code: toKubesoloError(err).code,
      phase,
    });
    return nextState(from, phase, changes, deps.clock.now());
  }
}
