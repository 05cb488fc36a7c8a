/** `activate`: flip the boot environment to the staged slot after verifying what is in it. */
import type { AgentDeps } from '../deps.js';
import { lifecycleError } from '../reasons.js';
import { stagedDigests, type UpdateState } from '../../stores/state.js';
import { reconcile } from './reconcile.js';
import { failWith, recordFailure } from './run.js';

/** Flip GRUB to the staged slot after re-verifying what is in it. */
export async function activate(deps: AgentDeps): Promise<UpdateState> {
  const { state, boot } = await reconcile(deps);
  if (state.phase !== 'staged' || !state.targetSlot) {
    throw lifecycleError('NOTHING_STAGED', `nothing to activate (phase ${state.phase})`, {
      details: { phase: state.phase },
    });
  }
  const target = state.targetSlot;
  try {
    if (boot.runningSlot === target) {
      throw lifecycleError('TARGET_IS_RUNNING', `slot ${target} is the running slot`);
    }
    const digests = stagedDigests(state);
    if (digests === undefined) {
      throw lifecycleError(
        'STAGED_DIGESTS_MISSING',
        'state.json holds no digests for the staged image',
      );
    }
    // docs/design.md §2: read back and re-hash before activate may flip the slot.
    await deps.slots.verify(target, digests);
    const version = await deps.slots.readVersion(target);
    if (version !== state.toVersion) {
      throw lifecycleError(
        'SLOT_VERSION_MISMATCH',
        `slot ${target} holds ${version ?? 'no version'}, expected ${state.toVersion ?? '?'}`,
      );
    }
  } catch (err) {
    return failWith(deps, state, err);
  }
  try {
    // GRUB reads the slot without replaying a filesystem journal: make it readable
    // now, or a power cut after the flip could send GRUB to a slot it cannot see.
    await deps.slots.flushForBootloader(target);
    await deps.bootEnv.activate(target);
  } catch (err) {
    // The slot verified: the image is good, only the boot side failed (a full or
    // read-only /boot). Keep it staged so `activate` can be retried once that is fixed.
    return recordFailure(deps, state, 'staged', err);
  }
  return deps.state.transition(state, 'activated', {
    activatedBootId: await deps.bootId(),
    lastError: undefined,
    reason: undefined,
    healthCheckFailures: 0,
  });
}
