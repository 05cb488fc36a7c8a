/**
 * `check` changes no lifecycle state, but a fleet wants to know when each device last
 * reached its update source and what it was offered (docs/fleet.md). The observation is
 * written under the run lock so it can never overwrite a concurrent run's progress; when
 * another run holds the lock it is skipped (an `apply` records its own metadata fetch).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { toKubesoloError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AgentContext } from './context.js';
import { check, type CheckReport } from './lifecycle/check.js';
import { acquireLock } from '../stores/lock.js';
import type { CheckObservation, StateStore } from '../stores/state.js';

export type CheckRecordOutcome = 'recorded' | 'locked' | 'failed';

export async function recordCheck(
  store: StateStore,
  lockPath: string,
  observation: CheckObservation,
  log: Logger,
): Promise<CheckRecordOutcome> {
  let lock;
  try {
    lock = await acquireLock(lockPath);
  } catch (err) {
    const e = toKubesoloError(err);
    if (e.code !== 'LOCKED') {
      log.warn('could not record the check in state.json', { code: e.code });
      return 'failed';
    }
    log.debug('another run holds the lock; the check is not recorded', { code: e.code });
    return 'locked';
  }
  try {
    // Read under the lock: the state may have moved on since the check started.
    const { state } = await store.recover();
    await store.record(state, observation);
    return 'recorded';
  } catch (err) {
    log.warn('could not record the check in state.json', { code: toKubesoloError(err).code });
    return 'failed';
  } finally {
    await lock.release();
  }
}

/**
 * `check` on a device: evaluate every gate, then record the check. The metadata was
 * fetched and verified: a successful check, whatever the gates say. Recorded only into
 * a state directory that exists: check never creates one (a wrong --root must not be
 * turned into a half device; the first apply creates it).
 */
export async function checkDevice(
  agent: AgentContext,
  options: { force: boolean; allowDowngrade: boolean },
): Promise<CheckReport> {
  const { deps, paths } = agent;
  const report = await check(deps, options);
  if (existsSync(dirname(paths.state))) {
    await recordCheck(
      deps.state,
      paths.lock,
      { lastCheckAt: deps.clock.now().toISOString(), availableVersion: report.availableVersion },
      deps.log,
    );
  }
  return report;
}
