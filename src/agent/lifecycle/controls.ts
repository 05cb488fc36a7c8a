/**
 * The operator's records (docs/operating.md "Operator controls"): `hold`/`unhold`, and
 * `mark-bad VERSION` / `forget VERSION` on the device's memory of releases
 * (src/stores/releases.ts). The trial's own verdicts (`commit`, `mark-bad` without a
 * version) are ./commit.ts.
 */
import { checkHoldReason, type Hold } from '../../stores/hold.js';
import { withoutQuarantine, withQuarantine } from '../../stores/releases.js';
import { digestFields, stagedDigests, type UpdateState } from '../../stores/state.js';
import type { AgentDeps } from '../deps.js';
import { lifecycleError } from '../reasons.js';
import { reconcile } from './reconcile.js';

export async function hold(deps: AgentDeps, reason: string | undefined): Promise<Hold> {
  const held = await deps.fleet.hold(reason === undefined ? undefined : checkHoldReason(reason));
  deps.log.info('held: apply and activate refuse until unhold', { code: 'HELD' });
  return held;
}

/** false when the device was not held (nothing to do: not an error). */
export async function unhold(deps: AgentDeps): Promise<boolean> {
  return deps.fleet.unhold();
}

export interface MarkBadResult {
  /** The staged update was this version and is no longer staged. */
  unstaged: boolean;
  /** The trial is this version: only quarantined (mark-bad without a version rolls it back). */
  onTrial: boolean;
  state: UpdateState;
}

/**
 * Quarantine every release of `version` (with the staged images when it is staged, so
 * they are named exactly) and un-stage it if it is staged. A trial of it is left to
 * `mark-bad` without a version, which rolls back.
 */
export async function markVersionBad(deps: AgentDeps, version: string): Promise<MarkBadResult> {
  let { state } = await reconcile(deps);
  const now = deps.clock.now();
  const staged = state.phase === 'staged' && state.toVersion === version;
  const ofAttempt = state.toVersion === version ? stagedDigests(state) : undefined;
  await deps.fleet.releases.update((records) => {
    const byName = withQuarantine(records, { version }, 'MARKED_BAD', now);
    return ofAttempt
      ? withQuarantine(byName, { version, images: ofAttempt }, 'MARKED_BAD', now)
      : byName;
  });
  deps.log.warn(`${version} is quarantined: apply refuses it from now on`, {
    code: 'QUARANTINED',
    version,
    reason: 'MARKED_BAD',
  });
  if (staged) {
    // Nothing points the bootloader at a staged slot: forgetting it is enough.
    state = await deps.state.transition(state, 'idle', {
      targetSlot: undefined,
      ...digestFields(undefined),
      reason: 'MARKED_BAD',
      lastError: `${version} was marked bad and un-staged`,
    });
  }
  const onTrial =
    (state.phase === 'activated' || state.phase === 'verifying') && state.toVersion === version;
  return { unstaged: staged, onTrial, state };
}

/** Release `version` from quarantine (and its back-off); NOT_QUARANTINED when it is in neither. */
export async function forget(deps: AgentDeps, version: string): Promise<void> {
  const records = await deps.fleet.releases.read();
  const known = records.filter(
    (r) => r.version === version && (r.quarantined !== undefined || r.verification !== undefined),
  );
  if (known.length === 0) {
    const quarantined = [...new Set(records.filter((r) => r.quarantined).map((r) => r.version))];
    throw lifecycleError(
      'NOT_QUARANTINED',
      `${version} is neither quarantined nor backed off on this device${quarantined.length > 0 ? ` (quarantined: ${quarantined.join(', ')})` : ' (nothing is quarantined)'}`,
      { details: { version } },
    );
  }
  await deps.fleet.releases.update((all) => withoutQuarantine(all, version));
  deps.log.info(`${version} forgotten: apply may install it again`, { version });
}
