/**
 * `commit` and `mark-bad` without a version (docs/operating.md "Operator controls"): the
 * operator's verdict on the running trial, in place of the health check's. `commit` does
 * what a passing `healthcheck` does (the bootloader's markGood, phase success, the floor,
 * the release remembered as committed); `mark-bad` quarantines the release on trial and
 * rolls back (./rollback.ts). Both go through the boot-environment interface only, so
 * they work the same on GRUB, U-Boot and the Raspberry Pi's tryboot.
 */
import type { BootState } from '../../bootenv/types.js';
import { recordCommittedFloor } from '../../stores/fleet-store.js';
import type { UpdateState } from '../../stores/state.js';
import type { AgentDeps } from '../deps.js';
import { verificationTarget } from '../healthcheck.js';
import { lifecycleError } from '../reasons.js';
import { attemptIdentity, rememberOutcome } from './memory.js';
import { reconcile } from './reconcile.js';
import { rollback, type RollbackResult } from './rollback.js';

/** The trial, or the refusal that says why there is none to judge. */
function requireTrial(state: UpdateState, boot: BootState, bootId: string | undefined): void {
  if (state.phase !== 'activated' && state.phase !== 'verifying') {
    throw lifecycleError('NOTHING_ON_TRIAL', `nothing is on trial (phase ${state.phase})`, {
      details: { phase: state.phase },
    });
  }
  const target = verificationTarget(state, boot, bootId);
  if (!target.verify) {
    throw lifecycleError('TRIAL_NOT_RUNNING', `the trial cannot be judged here: ${target.note}`, {
      details: { phase: state.phase },
    });
  }
}

/** Commit the running trial by hand, as a passing health check does. */
export async function commit(deps: AgentDeps): Promise<UpdateState> {
  const { state, boot } = await reconcile(deps);
  requireTrial(state, boot, await deps.bootId());
  await deps.bootEnv.markGood();
  const done = await deps.state.transition(state, 'success', {
    healthCheckFailures: 0,
    lastError: undefined,
    reason: undefined,
  });
  await recordCommittedFloor(deps.fleet, done, deps.log);
  await rememberOutcome(deps, attemptIdentity(done), { outcome: 'committed' });
  deps.log.info('committed by the operator', { slot: done.targetSlot, version: done.toVersion });
  return done;
}

/**
 * Quarantine the release on trial and roll back. A trial that was activated but not
 * booted yet counts too: the bootloader is pointed back before it ever tries it.
 */
export async function markTrialBad(deps: AgentDeps): Promise<RollbackResult> {
  const { state, boot } = await reconcile(deps);
  if (state.phase !== 'activated' && state.phase !== 'verifying') {
    throw lifecycleError(
      'NOTHING_ON_TRIAL',
      `nothing is on trial (phase ${state.phase}); name a version to quarantine it: mark-bad VERSION`,
      { details: { phase: state.phase } },
    );
  }
  if (boot.activeSlot !== state.targetSlot) {
    // The bootloader already left the trial (a fallback the reconcile above recorded, or
    // an operator's rollback): only the quarantine is left to do.
    throw lifecycleError(
      'TRIAL_NOT_RUNNING',
      `slot ${state.targetSlot ?? '?'} is no longer the bootloader's active slot; quarantine it with mark-bad ${state.toVersion ?? 'VERSION'}`,
    );
  }
  return rollback(deps, 'MARKED_BAD');
}
