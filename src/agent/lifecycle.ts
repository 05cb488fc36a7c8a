/**
 * The update lifecycle (docs/design.md §2): check, apply, activate, rollback, and the
 * reconciliation that runs first in every command and reports a boot fallback
 * truthfully. No direct I/O: everything goes through AgentDeps.
 */
import { otherSlot, type BootState, type Slot } from '../bootenv/types.js';
import { toKubesoloError } from '../errors.js';
import { ARTIFACT_NAMES, perImage, type ArtifactName } from '../metadata/images.js';
import type { Release, StagedArtifact, UpdateSource } from '../transport/source.js';
import type { AgentDeps } from './deps.js';
import {
  evaluateGates,
  refusalError,
  type GateFacts,
  type GateStage,
  type GateVerdict,
  type PreflightFacts,
  type ReleaseFacts,
  type WindowFacts,
} from './gates.js';
import { shortDeviceId } from '../fleet/device-id.js';
import { effectiveFloor, floorGate } from './floor.js';
import { recordCommittedFloor } from './fleet-store.js';
import { canStartAttempt, type Phase } from './phases.js';
import { lifecycleError } from './reasons.js';
import { digestFields, nextState, stagedDigests, type UpdateState } from './state.js';

/**
 * How reconcile records what it finds: `required` (a failed state write fails the
 * command), `best-effort` (logged; the command goes on with the state in memory: a
 * rollback must work on a read-only state partition), `none` (nothing written: the
 * read-only `status`, which reports the reconciled view).
 */
export type RecordMode = 'required' | 'best-effort' | 'none';

/** Read state and boot environment, and record what happened at boot (fallbacks). */
export async function reconcile(
  deps: AgentDeps,
  mode: RecordMode = 'required',
): Promise<{ state: UpdateState; boot: BootState }> {
  const record = (from: UpdateState, phase: Phase, changes: Partial<UpdateState>) =>
    recordTransition(deps, mode, from, phase, changes);
  let { state } = await deps.state.read();
  const boot = await deps.bootEnv.read();
  const target = state.targetSlot;

  if ((state.phase === 'activated' || state.phase === 'verifying') && target) {
    const bootId = await deps.bootId();
    const rebooted =
      bootId !== undefined &&
      state.activatedBootId !== undefined &&
      bootId !== state.activatedBootId;
    // GRUB switched back (counter ran out) or we are up again on the old slot after a
    // reboot: the new slot did not make it. docs/design.md §2 "Report the truth".
    if (
      boot.runningSlot !== undefined &&
      boot.runningSlot !== target &&
      (rebooted || boot.activeSlot !== target)
    ) {
      const runningVersion = await deps.slots.readVersion(boot.runningSlot);
      const message = `slot ${target} (${state.toVersion ?? '?'}) did not boot healthy; the bootloader fell back to slot ${boot.runningSlot} (${runningVersion ?? 'unknown version'})`;
      deps.log.warn(message, {
        code: 'BOOT_FALLBACK',
        runningSlot: boot.runningSlot,
        runningVersion,
      });
      state = await record(state, 'rolled_back', {
        reason: 'BOOT_FALLBACK',
        lastError: message,
        fromVersion: runningVersion ?? state.fromVersion,
      });
    }
  } else if (
    state.phase === 'staged' &&
    target &&
    boot.activeSlot === target &&
    !boot.bootSuccess
  ) {
    // The GRUB environment was flipped but the state write was lost (power cut between
    // the two): record the activation that really happened.
    deps.log.warn('found an unrecorded activation; recording it', { code: 'ACTIVATION_RECOVERED' });
    state = await record(state, 'activated', { activatedBootId: undefined });
  }
  return { state, boot };
}

async function recordTransition(
  deps: AgentDeps,
  mode: RecordMode,
  from: UpdateState,
  phase: Phase,
  changes: Partial<UpdateState>,
): Promise<UpdateState> {
  if (mode === 'none') return nextState(from, phase, changes, deps.clock.now());
  try {
    return await deps.state.transition(from, phase, changes);
  } catch (err) {
    if (mode === 'required') throw err;
    deps.log.warn('could not record the new state; going on without it', {
      code: toKubesoloError(err).code,
      phase,
    });
    return nextState(from, phase, changes, deps.clock.now());
  }
}

function runningSlotOf(boot: BootState): Slot {
  if (!boot.runningSlot) {
    throw lifecycleError(
      'RUNNING_SLOT_UNKNOWN',
      'the running slot is unknown (no kubesolo.slot= on the kernel command line); refusing to write either slot',
    );
  }
  return boot.runningSlot;
}

async function runningVersionOf(deps: AgentDeps, slot: Slot): Promise<string> {
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
async function failWith(deps: AgentDeps, state: UpdateState, err: unknown): Promise<never> {
  return recordFailure(deps, state, 'failed', deps.signal?.aborted ? deps.signal.reason : err);
}

/** Record an error's code and message in phase `phase` (best effort), then throw it. */
async function recordFailure(
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

/** What the window gates read: the policy, the clock, --force. */
function windowFacts(deps: AgentDeps, options: { force: boolean }): WindowFacts {
  return { policy: deps.policy, now: deps.clock.now(), force: options.force };
}

/** What the pre-flight gates read on top of the release's facts: the slot and the node. */
function preflightFacts(
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
async function passGates<S extends GateStage>(
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

export interface CheckReport {
  currentVersion: string | undefined;
  availableVersion: string | undefined;
  updateAvailable: boolean;
  /** true when an update is available and every gate passes. */
  wouldApply: boolean;
  runningSlot: Slot | undefined;
  targetSlot: Slot | undefined;
  gates: GateVerdict[];
  release?: Release;
}

/**
 * What the rollout and floor gates read. `apply` (record) keeps the device identifier
 * on the data partition and raises the floor to a signed `min_version`; `check` writes
 * nothing and judges by the same effective floor.
 */
async function fleetFacts(
  deps: AgentDeps,
  release: Release,
  record: boolean,
): Promise<Pick<ReleaseFacts, 'deviceId' | 'floor'>> {
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
  return { deviceId, floor: effectiveFloor(recorded, md.minVersion, release.metadataSigned) };
}

/** Evaluate every gate for the release on offer and report each verdict. Changes no state. */
export async function check(
  deps: AgentDeps,
  options: { force: boolean; allowDowngrade: boolean },
): Promise<CheckReport> {
  const boot = await deps.bootEnv.read();
  const gates = await evaluateGates('window', windowFacts(deps, options));
  const release = await (await deps.openSource()).fetchRelease();
  const md = release.metadata;
  const runningSlot = boot.runningSlot;
  const current = runningSlot ? await deps.slots.readVersion(runningSlot) : undefined;
  const facts: ReleaseFacts = {
    ...windowFacts(deps, options),
    metadata: md,
    allowDowngrade: options.allowDowngrade,
    runningSlot,
    runningVersion: current,
    ...(await fleetFacts(deps, release, false)),
  };
  const releaseGates = await evaluateGates('release', facts);
  const version = releaseGates.find((g) => g.gate === 'version');
  // A refused downgrade is not an available update; the gate line says why.
  const updateAvailable = version?.pass === true && version.code !== 'UP_TO_DATE';
  const targetSlot = runningSlot ? otherSlot(runningSlot) : undefined;
  gates.push(
    ...releaseGates,
    ...(await evaluateGates('preflight', preflightFacts(deps, facts, targetSlot))),
  );
  return {
    currentVersion: current,
    availableVersion: md.version,
    updateAvailable,
    wouldApply: updateAvailable && gates.every((g) => g.pass),
    runningSlot,
    targetSlot,
    gates,
    release,
  };
}

/** Bytes this run fetched and seconds since the attempt started (fleet metrics). */
function applyCost(
  now: Date,
  startedAt: string | undefined,
  staged: StagedArtifact[],
): Pick<UpdateState, 'lastApplyBytes' | 'lastApplySeconds'> {
  const started = startedAt === undefined ? NaN : Date.parse(startedAt);
  return {
    lastApplyBytes: staged.reduce((sum, s) => sum + s.bytesFetched, 0),
    lastApplySeconds: Number.isNaN(started)
      ? undefined
      : Math.max(0, (now.getTime() - started) / 1000),
  };
}

export interface ApplyOptions {
  force: boolean;
  allowDowngrade: boolean;
}

export type ApplyResult =
  | { outcome: 'up-to-date'; state: UpdateState; version: string }
  | { outcome: 'already-staged'; state: UpdateState }
  | { outcome: 'staged'; state: UpdateState; gates: GateVerdict[] };

/**
 * apply: window → mark running slot good → metadata → gates → pre-flight → download
 * + verify into the passive slot → install (rename, read back) → staged.
 */
export async function apply(deps: AgentDeps, options: ApplyOptions): Promise<ApplyResult> {
  const { log } = deps;
  let { state, boot } = await reconcile(deps);
  // A commit whose floor write was lost (power cut) is recorded now.
  await recordCommittedFloor(deps.fleet, state, log);

  if (!canStartAttempt(state.phase)) {
    // Not recorded as `failed`: that would lose track of the pending activation.
    throw lifecycleError(
      'ACTIVATION_PENDING',
      `an update to ${state.toVersion ?? '?'} is ${state.phase}; reboot and run healthcheck (or rollback) first`,
      { details: { phase: state.phase } },
    );
  }

  // A staged update that still verifies is kept: when the release on offer is the
  // staged one, nothing is downloaded or written again (docs/operating.md "apply on a
  // staged device"); a different release replaces it; --force stages afresh.
  let prefetched: { source: UpdateSource; release: Release } | undefined;
  if (state.phase === 'staged' && !options.force) {
    if (await stagedSlotIntact(deps, state, boot)) {
      // Refused without recording `failed`: the staged update stays activatable.
      await passGates('window', windowFacts(deps, options), []);
      // A release on offer that is refused (bad signature, unreachable) does not cost
      // the staged update: the refusal is recorded with phase staged.
      const { source, release } = await fetchOffer(deps).catch((err: unknown) =>
        recordFailure(deps, state, 'staged', err),
      );
      if (release.metadata.version === state.toVersion) {
        return { outcome: 'already-staged', state };
      }
      log.info('a different release is on offer; it replaces the staged one', {
        staged: state.toVersion,
        offered: release.metadata.version,
      });
      prefetched = { source, release };
    } else {
      log.warn('the staged slot no longer verifies; staging the update again', {
        code: 'STAGED_SLOT_DAMAGED',
        slot: state.targetSlot,
      });
    }
  }

  const gates: GateVerdict[] = [];
  // 1. The window comes before any network work.
  try {
    await passGates('window', windowFacts(deps, options), gates);
  } catch (err) {
    return failWith(deps, state, err);
  }

  try {
    const running = runningSlotOf(boot);
    // 2. docs/design.md §2: mark the running slot good and clear stale trial state before the
    // other slot is touched, so GRUB can never select a half-written slot.
    if (boot.activeSlot !== running) {
      log.info('clearing a stale activation before writing the other slot', {
        activeSlot: boot.activeSlot,
        runningSlot: running,
      });
      await deps.bootEnv.forceRollback();
    } else if (!boot.bootSuccess) {
      await deps.bootEnv.markGood();
    }
    boot = await deps.bootEnv.read();
    if (boot.activeSlot !== running || !boot.bootSuccess) {
      throw lifecycleError('BOOTENV_NOT_SETTLED', 'the boot environment did not take the update');
    }
    const target = otherSlot(running);
    const current = await runningVersionOf(deps, running);

    state = await deps.state.transition(state, 'checking', {
      fromVersion: current,
      targetSlot: target,
      startedAt: deps.clock.now().toISOString(),
      lastError: undefined,
      reason: undefined,
      healthCheckFailures: 0,
      kernelSha256: undefined,
      initramfsSha256: undefined,
      activatedBootId: undefined,
    });

    // 3. Metadata (trust policy applied by the source).
    deps.signal?.throwIfAborted();
    const source = prefetched?.source ?? (await deps.openSource());
    const release = prefetched?.release ?? (await source.fetchRelease(deps.signal));
    const md = release.metadata;
    state = await deps.state.transition(state, 'checking', {
      toVersion: md.version,
      // The attempt counter restarts when the target version changes.
      attemptCount: md.version === state.toVersion ? state.attemptCount + 1 : 1,
      // Verified metadata is a successful check too (fleet metrics).
      lastCheckAt: deps.clock.now().toISOString(),
      availableVersion: md.version,
    });
    log.info('release metadata verified', {
      version: md.version,
      origin: release.origin,
      signed: release.metadataSigned,
    });

    // 4. Gates.
    const facts: ReleaseFacts = {
      ...windowFacts(deps, options),
      metadata: md,
      allowDowngrade: options.allowDowngrade,
      runningSlot: running,
      runningVersion: current,
      ...(await fleetFacts(deps, release, true)),
    };
    const releaseGates = await passGates('release', facts, gates);
    if (releaseGates.some((g) => g.gate === 'version' && g.code === 'UP_TO_DATE')) {
      state = await deps.state.transition(state, 'idle', {
        toVersion: md.version,
        targetSlot: undefined,
      });
      return { outcome: 'up-to-date', state, version: current };
    }

    // 5. Pre-flight: free space on the slot, node block label. A pre-flight check that
    // did not run is logged: the operator expected it to.
    await passGates('preflight', preflightFacts(deps, facts, target), gates, (verdict) => {
      if (verdict.skipped) log.info(`gate ${verdict.gate}: ${verdict.message}`);
    });

    // 6.–7. Download straight into the passive slot's incoming directory (verified as
    // it arrives, resumable across kills), then install: renames, one read-back pass
    // from the medium, `version` last. Nothing is copied.
    state = await deps.state.transition(state, 'downloading');
    const written = await deps.slots.openWriter(target, async (writer) => {
      const staged = {} as Record<ArtifactName, StagedArtifact>;
      for (const artifact of ARTIFACT_NAMES) {
        const s = await source.stage(release, artifact, {
          stagingDir: writer.incomingDir,
          readBack: true,
          ...(deps.signal ? { signal: deps.signal } : {}),
          ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
        });
        log.info('artifact verified', {
          artifact,
          bytes: s.size,
          fetched: s.bytesFetched,
          resumed_from: s.resumedFrom,
          sha256: s.sha256,
          signature: s.signatureVerified,
        });
        staged[artifact] = s;
      }
      deps.onProgressDone?.();
      const expected = perImage((name) => staged[name].sha256);
      deps.signal?.throwIfAborted();
      log.info(`installing into slot ${target}`, { version: md.version });
      await writer.install(
        {
          files: perImage((name) => staged[name].path),
          version: md.version,
          // Read back from the medium while they downloaded: install compares these.
          readBack: perImage((name) => staged[name].readBack),
        },
        expected,
      );
      return { digests: expected, staged: Object.values(staged) };
    });
    state = await deps.state.transition(state, 'staged', {
      ...digestFields(written.digests),
      ...applyCost(deps.clock.now(), state.startedAt, written.staged),
    });
    return { outcome: 'staged', state, gates };
  } catch (err) {
    return failWith(deps, state, err);
  }
}

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

async function fetchOffer(deps: AgentDeps): Promise<{ source: UpdateSource; release: Release }> {
  const source = await deps.openSource();
  return { source, release: await source.fetchRelease(deps.signal) };
}

/** Whether the staged slot still holds exactly the staged image (digests and version). */
async function stagedSlotIntact(
  deps: AgentDeps,
  state: UpdateState,
  boot: BootState,
): Promise<boolean> {
  const target = state.targetSlot;
  const digests = stagedDigests(state);
  if (!target || target === boot.runningSlot || digests === undefined) return false;
  try {
    await deps.slots.verify(target, digests);
    return (await deps.slots.readVersion(target)) === state.toVersion;
  } catch {
    return false;
  }
}

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
