/** `rollback`: boot the other slot next, trusted (docs/operating.md). */
import { otherSlot, type Slot } from '../../bootenv/types.js';
import type { AgentDeps } from '../deps.js';
import { floorGate } from '../../gates/floor-gate.js';
import { lifecycleError } from '../reasons.js';
import type { ReleaseIdentity } from '../../stores/releases.js';
import { stagedDigests, type UpdateState } from '../../stores/state.js';
import { rememberOutcome, type OutcomeReason } from './memory.js';
import { reconcile, recordTransition } from './reconcile.js';

/**
 * An operator's rollback may take the device below the anti-rollback floor: allowed (it
 * is the way back), and said, since the next update must still be at or above it.
 */
async function warnBelowFloor(deps: AgentDeps, to: Slot): Promise<void> {
  const floor = await deps.fleet.readFloor().catch(() => undefined);
  const version = await deps.slots.readVersion(to).catch(() => undefined);
  if (floor === undefined || version === undefined) return;
  let below: boolean;
  try {
    below = !floorGate(floor.version, version).pass;
  } catch {
    // A version the gates cannot order says nothing about the floor: never fail a rollback.
    return;
  }
  if (!below) return;
  deps.log.warn(
    `slot ${to} (${version}) is below the anti-rollback floor ${floor.version}; the next update must be at or above it`,
    { code: 'BELOW_FLOOR_ROLLBACK', floor: floor.version, version },
  );
}

/**
 * The release a rollback leaves: the one in the slot the bootloader would boot next (the
 * running one, or a trial not booted yet), with its images when state.json staged it.
 */
async function releaseLeft(
  deps: AgentDeps,
  state: UpdateState,
  leaving: Slot,
): Promise<ReleaseIdentity | undefined> {
  const version = await deps.slots.readVersion(leaving).catch(() => undefined);
  if (version === undefined) return undefined;
  const staged = state.targetSlot === leaving && state.toVersion === version;
  return { version, images: staged ? stagedDigests(state) : undefined };
}

export interface RollbackResult {
  state: UpdateState;
  slot: Slot;
  /** The release left, when its version is known. */
  left: ReleaseIdentity | undefined;
  /** Whether it was quarantined (the data partition may be read-only: logged then). */
  quarantined: boolean;
}

/**
 * Boot the other slot next (trusted), refusing when it holds nothing bootable. The
 * release it leaves is quarantined (docs/operating.md "Failed releases"), so the next
 * scheduled run does not install it again: `outcome` says whether an operator rolled
 * back (`rollback`) or marked it bad (`mark-bad`).
 */
export async function rollback(
  deps: AgentDeps,
  how: OutcomeReason = 'MANUAL_ROLLBACK',
): Promise<RollbackResult> {
  // Works whenever GRUB's environment is writable: state.json is recorded if it can be.
  const { state, boot } = await reconcile(deps, 'best-effort');
  const to = otherSlot(boot.activeSlot);
  if ((state.phase === 'checking' || state.phase === 'downloading') && state.targetSlot === to) {
    throw lifecycleError(
      'ROLLBACK_UNSAFE',
      `slot ${to} was being written by an interrupted update; it may be incomplete`,
    );
  }
  if (!(await deps.slots.hasBootableImage(to))) {
    throw lifecycleError('NO_ROLLBACK_TARGET', `slot ${to} holds no bootable image`);
  }
  const left = await releaseLeft(deps, state, boot.activeSlot);
  await deps.slots.flushForBootloader(to);
  await deps.bootEnv.forceRollback();
  await warnBelowFloor(deps, to);
  const next = await recordTransition(deps, 'best-effort', state, 'rolled_back', {
    reason: 'MANUAL_ROLLBACK',
    lastError:
      how === 'MARKED_BAD'
        ? `${left?.version ?? 'the release'} marked bad; rolled back to slot ${to}`
        : `manual rollback to slot ${to}`,
  });
  const quarantined = await rememberOutcome(deps, left, {
    outcome: how === 'MARKED_BAD' ? 'marked_bad' : 'manual_rollback',
    reason: how,
    quarantine: how,
  });
  return { state: next, slot: to, left, quarantined };
}
