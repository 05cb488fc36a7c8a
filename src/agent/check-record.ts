/**
 * `check` changes no lifecycle state, but a fleet wants to know when each device last
 * reached its update source and what it was offered (docs/fleet.md). The observation is
 * written under the run lock so it can never overwrite a concurrent run's progress; when
 * another run holds the lock it is skipped (an `apply` records its own metadata fetch).
 */
import { toKubesoloError } from '../errors.js';
import type { Logger } from '../log.js';
import { acquireLock } from './lock.js';
import type { CheckObservation, StateStore } from './state.js';

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
    const { state } = await store.read();
    await store.record(state, observation);
    return 'recorded';
  } catch (err) {
    log.warn('could not record the check in state.json', { code: toKubesoloError(err).code });
    return 'failed';
  } finally {
    await lock.release();
  }
}
