/**
 * What every lifecycle command shares: the running slot and version, recording a
 * failure, and the facts the gates of a run read (window, release, pre-flight, fleet).
 */
import type { BootState, Slot } from '../../bootenv/types.js';
import { toKubesoloError } from '../../errors.js';
import { shortDeviceId } from '../../fleet/device-id.js';
import type { Release } from '../../transport/source.js';
import type { AgentDeps } from '../deps.js';
import { effectiveFloor } from '../../gates/floor-gate.js';
import {
  evaluateGates,
  type DeviceFacts,
  type GateFacts,
  type GateStage,
  type PreflightFacts,
  type ReleaseFacts,
} from '../../gates/gates.js';
import type { ReleaseRecord } from '../../stores/releases.js';
import { refusalError, type GateVerdict } from '../../gates/verdict.js';
import { lifecycleError } from '../reasons.js';
import type { UpdateState } from '../../stores/state.js';

export function runningSlotOf(boot: BootState): Slot {
  if (!boot.runningSlot) {
    throw lifecycleError(
      'RUNNING_SLOT_UNKNOWN',
      'the running slot is unknown (no kubesolo.slot= on the kernel command line); refusing to write either slot',
    );
  }
  return boot.runningSlot;
}

export async function runningVersionOf(deps: AgentDeps, slot: Slot): Promise<string> {
  const version = await deps.slots.readVersion(slot);
  if (!version) {
    throw lifecycleError('RUNNING_VERSION_UNKNOWN', `slot ${slot} (running) has no version file`);
  }
  return version;
}

/**
 * Record a failure in state.json (phase failed, reason, last_error) and rethrow it. A
 * run stopped by a signal is recorded as INTERRUPTED whatever the aborted step threw;
 * partial downloads stay where they are for the next run to resume.
 */
export async function failWith(deps: AgentDeps, state: UpdateState, err: unknown): Promise<never> {
  return recordFailure(deps, state, 'failed', deps.signal?.aborted ? deps.signal.reason : err);
}

/** Record an error's code and message in phase `phase` (best effort), then throw it. */
export async function recordFailure(
  deps: AgentDeps,
  state: UpdateState,
  phase: 'failed' | 'staged',
  err: unknown,
): Promise<never> {
  const e = toKubesoloError(err);
  await deps.state
    .transition(state, phase, { lastError: e.message, reason: e.code })
    .catch((writeErr: unknown) =>
      deps.log.error('could not record the failure in state.json', {
        code: toKubesoloError(writeErr).code,
      }),
    );
  throw e;
}

/**
 * What the device and activation gates read: the policy, the clock, --force, the hold,
 * and a rollback waiting for its reboot: the bootloader boots the other slot next and
 * it is committed (`forceRollback` by an operator or a health check), which an update
 * must not undo (an activation not booted yet is uncommitted instead).
 */
export async function deviceFacts(
  deps: AgentDeps,
  options: { force: boolean },
  boot: BootState | undefined,
): Promise<DeviceFacts> {
  // An unreadable boot environment (`status` in degraded mode) shows no pending rollback.
  const pending =
    boot?.runningSlot !== undefined && boot.activeSlot !== boot.runningSlot && boot.bootSuccess;
  return {
    policy: deps.policy,
    now: deps.clock.now(),
    force: options.force,
    hold: await deps.fleet.readHold(),
    pendingRollback: pending ? boot?.activeSlot : undefined,
  };
}

/**
 * What the device remembers of releases, for the quarantine and back-off gates. A file
 * that cannot be read is logged and read as empty: one more try of a bad release is
 * better than a device that never updates again (the next failure is remembered anew).
 */
async function releaseRecords(deps: AgentDeps): Promise<ReleaseRecord[]> {
  try {
    return await deps.fleet.releases.read();
  } catch (err) {
    const e = toKubesoloError(err);
    deps.log.warn(`${e.message}; judging the release without them`, { code: e.code });
    return [];
  }
}

/** What the pre-flight gates read on top of the release's facts: the slot and the node. */
export function preflightFacts(
  deps: AgentDeps,
  facts: ReleaseFacts,
  targetSlot: Slot | undefined,
): PreflightFacts {
  return {
    ...facts,
    targetSlot,
    freeBytes: (slot) => deps.slots.freeBytes(slot),
    nodeBlock: () => deps.nodeBlock(),
  };
}

/**
 * apply's evaluation of one stage: the verdicts up to the first refusal are kept in
 * `passed` (each reported to `onVerdict`), and that refusal is thrown (exit 3, its code).
 */
export async function passGates<S extends GateStage>(
  stage: S,
  facts: GateFacts[S],
  passed: GateVerdict[],
  onVerdict?: (verdict: GateVerdict) => void,
): Promise<GateVerdict[]> {
  const verdicts = await evaluateGates(stage, facts);
  for (const verdict of verdicts) {
    passed.push(verdict);
    onVerdict?.(verdict);
    if (!verdict.pass) throw refusalError(verdict);
  }
  return verdicts;
}

/**
 * What the rollout and floor gates read. `apply` (record) keeps the device identifier
 * on the data partition and raises the floor to a signed `min_version`; `check` writes
 * nothing and judges by the same effective floor.
 */
export async function fleetFacts(
  deps: AgentDeps,
  release: Release,
  record: boolean,
): Promise<Pick<ReleaseFacts, 'deviceId' | 'floor' | 'releases'>> {
  const md = release.metadata;
  let deviceId: string | undefined;
  if (md.rollout !== undefined) {
    const id = record ? await deps.fleet.ensureDeviceId() : await deps.fleet.readDeviceId();
    if (record && id && id.source !== 'stored') {
      // Never the whole identifier: it decides this device's place in every rollout.
      deps.log.info('rollout identifier kept on the data partition', {
        id: shortDeviceId(id.id),
        from: id.source,
      });
    }
    deviceId = id?.id;
  }
  if (record && md.minVersion !== undefined && release.metadataSigned) {
    const { floor, raised } = await deps.fleet.raiseFloor({
      version: md.minVersion,
      source: 'min_version',
      release: md.version,
    });
    if (raised) {
      deps.log.info('anti-rollback floor raised', { floor: floor.version, source: 'min_version' });
    }
  }
  const recorded = await deps.fleet.readFloor();
  return {
    deviceId,
    floor: effectiveFloor(recorded, md.minVersion, release.metadataSigned),
    releases: await releaseRecords(deps),
  };
}
