/**
 * The agent's fleet-safety files on the data partition, next to state.json: the
 * anti-rollback floor (src/stores/floor.ts), the device identifier of rollout buckets
 * (src/fleet/device-id.ts), the releases it tried and quarantined (src/stores/releases.ts)
 * and the operator's hold (src/stores/hold.ts). Built once by src/agent/context.ts and
 * passed down in AgentDeps, like the state store.
 */
import { dirname, join } from 'node:path';
import type { Clock } from '../clock.js';
import { ensureDeviceId, readDeviceId, DEVICE_ID_FILE, type DeviceId } from '../fleet/device-id.js';
import type { Logger } from '../log.js';
import { toKubesoloError } from '../errors.js';
import { FLOOR_FILE, raiseFloor, readFloor, type Floor, type FloorCandidate } from './floor.js';
import { HOLD_FILE, readHold, removeHold, writeHold, type Hold } from './hold.js';
import { createReleaseStore, RELEASES_FILE, type ReleaseStore } from './releases.js';
import type { UpdateState } from './state.js';

export interface FleetStore {
  floorPath: string;
  readFloor(): Promise<Floor | undefined>;
  raiseFloor(candidate: FloorCandidate): Promise<{ floor: Floor; raised: boolean }>;
  /** The identifier without writing (check); undefined when there is none yet. */
  readDeviceId(): Promise<DeviceId | undefined>;
  /** The identifier, kept on the data partition from now on (apply). */
  ensureDeviceId(): Promise<DeviceId>;
  /** What the device remembers of the releases it tried: outcomes, quarantine, back-off. */
  releases: ReleaseStore;
  holdPath: string;
  /** The operator's hold; undefined when the device is not held. */
  readHold(): Promise<Hold | undefined>;
  hold(reason: string | undefined): Promise<Hold>;
  /** false when the device was not held. */
  unhold(): Promise<boolean>;
}

export function createFleetStore(
  paths: { state: string; machineId: string },
  clock: Clock,
  log: Logger,
): FleetStore {
  const dir = dirname(paths.state);
  const floorPath = join(dir, FLOOR_FILE);
  const holdPath = join(dir, HOLD_FILE);
  const idPaths = { machineId: paths.machineId, stored: join(dir, DEVICE_ID_FILE) };
  return {
    floorPath,
    readFloor: () => readFloor(floorPath),
    raiseFloor: (candidate) => raiseFloor(floorPath, candidate, clock.now()),
    readDeviceId: () => readDeviceId(idPaths),
    ensureDeviceId: () => ensureDeviceId(idPaths),
    releases: createReleaseStore(join(dir, RELEASES_FILE), () => clock.now(), log),
    holdPath,
    readHold: () => readHold(holdPath),
    hold: (reason) => writeHold(holdPath, reason, clock.now()),
    unhold: () => removeHold(holdPath),
  };
}

/**
 * docs/operating.md "The anti-rollback floor": a health-checked commit (phase `success`)
 * makes its version the floor. The health check records it right after the commit;
 * `apply` records it again when that write was lost (a power cut between the two).
 * Never fatal: a floor that could not be written leaves the device updatable, and the
 * failure is logged with its code.
 */
export async function recordCommittedFloor(
  fleet: Pick<FleetStore, 'raiseFloor'>,
  state: UpdateState,
  log: Logger,
): Promise<void> {
  if (state.phase !== 'success' || !state.toVersion) return;
  try {
    const { floor, raised } = await fleet.raiseFloor({
      version: state.toVersion,
      source: 'commit',
    });
    if (raised) log.info('anti-rollback floor raised', { floor: floor.version, source: 'commit' });
  } catch (err) {
    log.error('could not record the anti-rollback floor', {
      code: toKubesoloError(err).code,
      version: state.toVersion,
    });
  }
}
