/** `rollback`: boot the other slot next, trusted (docs/operating.md). */
import { otherSlot, type Slot } from '../../bootenv/types.js';
import type { AgentDeps } from '../deps.js';
import { floorGate } from '../../gates/floor-gate.js';
import { lifecycleError } from '../reasons.js';
import type { UpdateState } from '../../stores/state.js';
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

/** Boot the other slot next (trusted), refusing when it holds nothing bootable. */
export async function rollback(deps: AgentDeps): Promise<{ state: UpdateState; slot: Slot }> {
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
  await deps.slots.flushForBootloader(to);
  await deps.bootEnv.forceRollback();
  await warnBelowFloor(deps, to);
  const next = await recordTransition(deps, 'best-effort', state, 'rolled_back', {
    reason: 'MANUAL_ROLLBACK',
    lastError: `manual rollback to slot ${to}`,
  });
  return { state: next, slot: to };
}
