/**
 * The device's memory of releases (src/stores/releases.ts, docs/operating.md "Failed
 * releases"), written where the lifecycle decides how a release ended: activated (on
 * trial), committed (health check, `commit`), rolled back (health check, boot fallback,
 * which covers the watchdog's reboots), left by an operator (`rollback`, `mark-bad`),
 * or refused because its images failed verification (the back-off).
 *
 * Never fatal: the memory exists to spare the fleet a bad release, and losing one
 * record must never stop a commit, a rollback or a boot. A write that fails is logged
 * with its code.
 */
import { toKubesoloError } from '../../errors.js';
import type { AgentDeps } from '../deps.js';
import {
  withOutcome,
  withVerificationFailure,
  withoutVerificationFailures,
  type OutcomeChange,
  type ReleaseIdentity,
  type ReleaseRecord,
} from '../../stores/releases.js';
import { stagedDigests, type UpdateState } from '../../stores/state.js';

/** Why an operator left a release: a `rollback` or a `mark-bad`. */
export type OutcomeReason = 'MANUAL_ROLLBACK' | 'MARKED_BAD';

/** The release an attempt is about: state.json's target version and staged digests. */
export function attemptIdentity(state: UpdateState): ReleaseIdentity | undefined {
  if (state.toVersion === undefined) return undefined;
  return { version: state.toVersion, images: stagedDigests(state) };
}

async function remember(
  deps: AgentDeps,
  what: string,
  identity: ReleaseIdentity,
  change: (records: ReleaseRecord[]) => ReleaseRecord[],
): Promise<boolean> {
  try {
    await deps.fleet.releases.update(change);
    return true;
  } catch (err) {
    deps.log.error(`could not remember that ${identity.version} ${what}`, {
      code: toKubesoloError(err).code,
      version: identity.version,
    });
    return false;
  }
}

/**
 * How a release ended; with `quarantine`, `apply` refuses it from now on. Returns
 * whether it was written.
 */
export async function rememberOutcome(
  deps: AgentDeps,
  identity: ReleaseIdentity | undefined,
  change: OutcomeChange,
): Promise<boolean> {
  if (identity === undefined) return false;
  const written = await remember(deps, `ended ${change.outcome}`, identity, (records) =>
    withOutcome(records, identity, change, deps.clock.now()),
  );
  if (written && change.quarantine !== undefined) {
    deps.log.warn(`${identity.version} is quarantined: apply refuses it from now on`, {
      code: 'QUARANTINED',
      version: identity.version,
      reason: change.quarantine,
    });
  }
  return written;
}

/** One more verification failure of the release's images (the back-off counts them). */
export async function rememberVerificationFailure(
  deps: AgentDeps,
  identity: ReleaseIdentity,
  code: string,
): Promise<void> {
  await remember(deps, 'failed verification', identity, (records) =>
    withVerificationFailure(records, identity, code, deps.clock.now()),
  );
}

/** The release's images verified: a run of failures (if any) is over. */
export async function rememberVerified(
  deps: AgentDeps,
  identity: ReleaseIdentity,
  records: readonly ReleaseRecord[],
): Promise<void> {
  const hadRun = records.some(
    (r) => r.verification !== undefined && r.version === identity.version,
  );
  if (!hadRun) return; // nothing to clear: no write
  await remember(deps, 'verified', identity, (all) => withoutVerificationFailures(all, identity));
}
