/**
 * The update lifecycle (DESIGN §2): check, apply, activate, rollback, and the
 * reconciliation that runs first in every command and reports a boot fallback
 * truthfully. No direct I/O: everything goes through AgentDeps.
 */
import { unlink } from 'node:fs/promises';
import { otherSlot, type BootState, type Slot } from '../bootenv/types.js';
import {
  GateError,
  KubesoloError,
  OperationError,
  toKubesoloError,
  VerificationError,
} from '../errors.js';
import type { Release, StagedArtifact } from '../transport/source.js';
import type { AgentDeps } from './deps.js';
import {
  architectureGate,
  channelGate,
  freeSpaceGate,
  maintenanceWindowGate,
  minCompatibleVersionGate,
  nodeBlockGate,
  versionGate,
  type GateVerdict,
} from './gates.js';
import { canStartAttempt } from './phases.js';
import type { UpdateState } from './state.js';

/** Read state and boot environment, and record what happened at boot (fallbacks). */
export async function reconcile(deps: AgentDeps): Promise<{ state: UpdateState; boot: BootState }> {
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
    // reboot: the new slot did not make it. DESIGN §2 "Report the truth".
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
      state = await deps.state.transition(state, 'rolled_back', {
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
    state = await deps.state.transition(state, 'activated', { activatedBootId: undefined });
  }
  return { state, boot };
}

function runningSlotOf(boot: BootState): Slot {
  if (!boot.runningSlot) {
    throw new GateError(
      'RUNNING_SLOT_UNKNOWN',
      'the running slot is unknown (no kubesolo.slot= on the kernel command line); refusing to write either slot',
    );
  }
  return boot.runningSlot;
}

async function runningVersionOf(deps: AgentDeps, slot: Slot): Promise<string> {
  const version = await deps.slots.readVersion(slot);
  if (!version) {
    throw new GateError('RUNNING_VERSION_UNKNOWN', `slot ${slot} (running) has no version file`);
  }
  return version;
}

/** Record a failure in state.json (phase failed, reason, last_error) and rethrow it. */
async function failWith(deps: AgentDeps, state: UpdateState, err: unknown): Promise<never> {
  const e = toKubesoloError(err);
  await deps.state
    .transition(state, 'failed', { lastError: e.message, reason: e.code })
    .catch((writeErr: unknown) =>
      deps.log.error('could not record the failure in state.json', {
        code: toKubesoloError(writeErr).code,
      }),
    );
  throw e;
}

function refusal(verdict: GateVerdict): KubesoloError {
  const code = verdict.code ?? 'GATE_REFUSED';
  return new GateError(code, `${verdict.gate}: ${verdict.message}`, {
    details: { gate: verdict.gate },
  });
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

/** Evaluate every gate for the release on offer and report each verdict. Changes no state. */
export async function check(
  deps: AgentDeps,
  options: { force: boolean; allowDowngrade: boolean },
): Promise<CheckReport> {
  const boot = await deps.bootEnv.read();
  const gates: GateVerdict[] = [];
  gates.push(
    maintenanceWindowGate(
      deps.policy.maintenanceWindow,
      deps.clock.now(),
      options.force,
      deps.policy.timeZone,
    ),
  );
  const release = await (await deps.openSource()).fetchRelease();
  const md = release.metadata;
  const runningSlot = boot.runningSlot;
  const current = runningSlot ? await deps.slots.readVersion(runningSlot) : undefined;
  gates.push(channelGate(deps.policy.channel, md.channel));
  gates.push(architectureGate(deps.policy.architecture, md.architecture));
  let updateAvailable = false;
  if (current) {
    gates.push(minCompatibleVersionGate(current, md.minCompatibleVersion));
    const v = versionGate(current, md.version, options.allowDowngrade);
    // A refused downgrade is not an available update; the gate line says why.
    updateAvailable = v.pass && v.code !== 'UP_TO_DATE';
    gates.push(v);
  } else {
    gates.push({
      gate: 'version',
      pass: false,
      code: runningSlot ? 'RUNNING_VERSION_UNKNOWN' : 'RUNNING_SLOT_UNKNOWN',
      message: runningSlot ? `slot ${runningSlot} has no version file` : 'running slot unknown',
    });
  }
  const targetSlot = runningSlot ? otherSlot(runningSlot) : undefined;
  const imageBytes = sizeOf(release);
  if (targetSlot) {
    gates.push(
      freeSpaceGate(`slot ${targetSlot}`, await deps.slots.freeBytes(targetSlot), imageBytes),
    );
  }
  gates.push(freeSpaceGate('staging area', await deps.stagingFreeBytes(), imageBytes));
  gates.push(nodeBlockGate(options.force ? { kind: 'forced' } : await deps.nodeBlock()));
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

function sizeOf(release: Release): number | undefined {
  const { vmlinuzSize, initramfsSize } = release.metadata;
  return vmlinuzSize !== undefined && initramfsSize !== undefined
    ? vmlinuzSize + initramfsSize
    : undefined;
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
  | { outcome: 'staged'; state: UpdateState; gates: GateVerdict[] };

/**
 * apply, in the order of the issue: window → mark running slot good → metadata →
 * gates → pre-flight → download + verify → write passive slot → read back → staged.
 */
export async function apply(deps: AgentDeps, options: ApplyOptions): Promise<ApplyResult> {
  const { log } = deps;
  let { state, boot } = await reconcile(deps);

  if (!canStartAttempt(state.phase)) {
    // Not recorded as `failed`: that would lose track of the pending activation.
    throw new GateError(
      'ACTIVATION_PENDING',
      `an update to ${state.toVersion ?? '?'} is ${state.phase}; reboot and run healthcheck (or rollback) first`,
      { details: { phase: state.phase } },
    );
  }

  const gates: GateVerdict[] = [];
  // 1. The window comes before any network work.
  const window = maintenanceWindowGate(
    deps.policy.maintenanceWindow,
    deps.clock.now(),
    options.force,
    deps.policy.timeZone,
  );
  gates.push(window);
  if (!window.pass) return failWith(deps, state, refusal(window));

  try {
    const running = runningSlotOf(boot);
    // 2. DESIGN §2: mark the running slot good and clear stale trial state before the
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
      throw new OperationError(
        'BOOTENV_NOT_SETTLED',
        'the boot environment did not take the update',
      );
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
    const source = await deps.openSource();
    const release = await source.fetchRelease();
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
    const version = versionGate(current, md.version, options.allowDowngrade);
    for (const verdict of [
      channelGate(deps.policy.channel, md.channel),
      architectureGate(deps.policy.architecture, md.architecture),
      minCompatibleVersionGate(current, md.minCompatibleVersion),
      version,
    ]) {
      gates.push(verdict);
      if (!verdict.pass) throw refusal(verdict);
    }
    if (version.code === 'UP_TO_DATE') {
      state = await deps.state.transition(state, 'idle', {
        toVersion: md.version,
        targetSlot: undefined,
      });
      return { outcome: 'up-to-date', state, version: current };
    }

    // 5. Pre-flight: free space (when sizes are declared), node block label.
    const imageBytes = sizeOf(release);
    for (const verdict of [
      freeSpaceGate(`slot ${target}`, await deps.slots.freeBytes(target), imageBytes),
      freeSpaceGate('staging area', await deps.stagingFreeBytes(), imageBytes),
      nodeBlockGate(options.force ? { kind: 'forced' } : await deps.nodeBlock()),
    ]) {
      gates.push(verdict);
      if (verdict.skipped) log.info(`gate ${verdict.gate}: ${verdict.message}`);
      if (!verdict.pass) throw refusal(verdict);
    }

    // 6. Download and verify.
    state = await deps.state.transition(state, 'downloading');
    const staged: StagedArtifact[] = [];
    for (const artifact of ['vmlinuz', 'initramfs'] as const) {
      const s = await source.stage(release, artifact, {
        stagingDir: deps.stagingDir,
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
      staged.push(s);
    }
    deps.onProgressDone?.();
    const [kernel, initramfs] = staged as [StagedArtifact, StagedArtifact];
    if (imageBytes === undefined) {
      const verdict = freeSpaceGate(
        `slot ${target}`,
        await deps.slots.freeBytes(target),
        kernel.size + initramfs.size,
      );
      gates.push(verdict);
      if (!verdict.pass) throw refusal(verdict);
    }

    // 7. Write the passive slot; the store reads back and re-hashes.
    const digests = { kernelSha256: kernel.sha256, initramfsSha256: initramfs.sha256 };
    log.info(`writing slot ${target}`, { version: md.version });
    await deps.slots.write(
      target,
      { kernelPath: kernel.path, initramfsPath: initramfs.path, version: md.version },
      digests,
    );
    state = await deps.state.transition(state, 'staged', {
      ...digests,
      ...applyCost(deps.clock.now(), state.startedAt, staged),
    });
    // The image lives in the slot now; free the data partition.
    await Promise.all(staged.map((s) => unlink(s.path).catch(() => undefined)));
    return { outcome: 'staged', state, gates };
  } catch (err) {
    return failWith(deps, state, err);
  }
}

/** Flip GRUB to the staged slot after re-verifying what is in it. */
export async function activate(deps: AgentDeps): Promise<UpdateState> {
  const { state, boot } = await reconcile(deps);
  if (state.phase !== 'staged' || !state.targetSlot) {
    throw new GateError('NOTHING_STAGED', `nothing to activate (phase ${state.phase})`, {
      details: { phase: state.phase },
    });
  }
  const target = state.targetSlot;
  try {
    if (boot.runningSlot === target) {
      throw new OperationError('TARGET_IS_RUNNING', `slot ${target} is the running slot`);
    }
    if (!state.kernelSha256 || !state.initramfsSha256) {
      throw new VerificationError(
        'STAGED_DIGESTS_MISSING',
        'state.json holds no digests for the staged image',
      );
    }
    // DESIGN §2: read back and re-hash before activate may flip the slot.
    await deps.slots.verify(target, {
      kernelSha256: state.kernelSha256,
      initramfsSha256: state.initramfsSha256,
    });
    const version = await deps.slots.readVersion(target);
    if (version !== state.toVersion) {
      throw new VerificationError(
        'SLOT_VERSION_MISMATCH',
        `slot ${target} holds ${version ?? 'no version'}, expected ${state.toVersion ?? '?'}`,
      );
    }
    // GRUB reads the slot without replaying a filesystem journal: make it readable
    // now, or a power cut after the flip could send GRUB to a slot it cannot see.
    await deps.slots.flushForBootloader(target);
    await deps.bootEnv.activate(target);
  } catch (err) {
    return failWith(deps, state, err);
  }
  return deps.state.transition(state, 'activated', {
    activatedBootId: await deps.bootId(),
    healthCheckFailures: 0,
  });
}

/** Boot the other slot next (trusted), refusing when it holds nothing bootable. */
export async function rollback(deps: AgentDeps): Promise<{ state: UpdateState; slot: Slot }> {
  const { state, boot } = await reconcile(deps);
  const to = otherSlot(boot.activeSlot);
  if ((state.phase === 'checking' || state.phase === 'downloading') && state.targetSlot === to) {
    throw new GateError(
      'ROLLBACK_UNSAFE',
      `slot ${to} was being written by an interrupted update; it may be incomplete`,
    );
  }
  if (!(await deps.slots.hasBootableImage(to))) {
    throw new GateError('NO_ROLLBACK_TARGET', `slot ${to} holds no bootable image`);
  }
  await deps.slots.flushForBootloader(to);
  await deps.bootEnv.forceRollback();
  const next = await deps.state.transition(state, 'rolled_back', {
    reason: 'MANUAL_ROLLBACK',
    lastError: `manual rollback to slot ${to}`,
  });
  return { state: next, slot: to };
}
