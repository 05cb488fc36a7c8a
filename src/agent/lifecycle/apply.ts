/**
 * `apply` (docs/design.md §2, docs/operating.md "apply, step by step"): hold → mark
 * the running slot good → metadata → gates → pre-flight → download and verify into the
 * passive slot → install (rename, read back) → staged. The maintenance window gates only
 * the activation (./activate.ts): staging goes on outside it.
 */
import { otherSlot, type BootState, type Slot } from '../../bootenv/types.js';
import type { SlotDigests } from '../../slots/types.js';
import { ARTIFACT_NAMES, perImage, type ArtifactName } from '../../metadata/images.js';
import { deltaOptions, withRunningSlot } from './delta-seeds.js';
import type { Release, StagedArtifact, UpdateSource } from '../../transport/source.js';
import type { AgentDeps } from '../deps.js';
import { recordCommittedFloor } from '../../stores/fleet-store.js';
import type { ReleaseFacts } from '../../gates/gates.js';
import { releaseIdentity } from '../../gates/quarantine-gate.js';
import type { GateVerdict } from '../../gates/verdict.js';
import { ExitCode, toKubesoloError } from '../../errors.js';
import { canStartAttempt } from '../../stores/phases.js';
import { lifecycleError } from '../reasons.js';
import { bump, digestFields, stagedDigests, type UpdateState } from '../../stores/state.js';
import { reconcile } from './reconcile.js';
import { rememberVerificationFailure, rememberVerified } from './memory.js';
import {
  deviceFacts,
  failWith,
  fleetFacts,
  passGates,
  preflightFacts,
  recordFailure,
  runningSlotOf,
  runningVersionOf,
} from './run.js';

/**
 * Bytes this run fetched, bytes it did not have to (delta), seconds since the attempt
 * started, and the delta updates given up for a full download (fleet metrics).
 */
function applyCost(
  now: Date,
  state: UpdateState,
  staged: StagedArtifact[],
): Pick<
  UpdateState,
  'lastApplyBytes' | 'lastApplySeconds' | 'lastApplyReusedBytes' | 'deltaFallbackCounts'
> {
  const started = state.startedAt === undefined ? NaN : Date.parse(state.startedAt);
  let fallbacks = state.deltaFallbackCounts;
  for (const s of staged) {
    if (s.delta?.fallback !== undefined) fallbacks = bump(fallbacks, s.delta.fallback);
  }
  return {
    lastApplyBytes: staged.reduce((sum, s) => sum + s.bytesFetched, 0),
    lastApplySeconds: Number.isNaN(started)
      ? undefined
      : Math.max(0, (now.getTime() - started) / 1000),
    // Only when a delta was tried: a release without an index adds no series.
    lastApplyReusedBytes: staged.some((s) => s.delta !== undefined)
      ? staged.reduce(
          (sum, s) =>
            sum + (s.delta === undefined ? 0 : s.delta.reusedBytes + s.delta.patchedBytes),
          0,
        )
      : undefined,
    deltaFallbackCounts: fallbacks,
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
 * apply: hold → mark running slot good → metadata → gates → pre-flight → download
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

  let prefetched: Offer | undefined;
  if (state.phase === 'staged' && !options.force) {
    const kept = await keepStaged(deps, state, boot, options);
    if (kept.result !== undefined) return kept.result;
    prefetched = kept.offer;
  }

  const gates: GateVerdict[] = [];
  // 1. The device's own gates (an operator's hold) come before any network work.
  const device = await deviceFacts(deps, options, boot);
  try {
    await passGates('device', device, gates);
  } catch (err) {
    return failWith(deps, state, err);
  }

  try {
    const running = runningSlotOf(boot);
    boot = await settleBootEnv(deps, boot, running);
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
    const { source, release } = prefetched ?? (await fetchOffer(deps));
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
      ...device,
      metadata: md,
      allowDowngrade: options.allowDowngrade,
      runningSlot: running,
      runningVersion: current,
      ...(await fleetFacts(deps, release, true)),
    };
    const releaseGates = await passGates('release', facts, gates, (verdict) => {
      if (verdict.warning)
        log.warn(`gate ${verdict.gate}: ${verdict.message}`, { code: verdict.code });
    });
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

    // 6.–7. Download into the passive slot and install it.
    state = await deps.state.transition(state, 'downloading');
    const identity = releaseIdentity(md);
    const written = await stageInto(deps, { source, release }, target, running).catch(
      async (err: unknown) => {
        // The back-off counts what the release's bytes did, not the network or the disk.
        const e = toKubesoloError(err);
        if (e.exitCode === ExitCode.VERIFICATION && e.code !== 'SLOT_VERIFY_FAILED') {
          await rememberVerificationFailure(deps, identity, e.code);
        }
        throw err;
      },
    );
    await rememberVerified(deps, identity, facts.releases);
    state = await deps.state.transition(state, 'staged', {
      ...digestFields(written.digests),
      ...applyCost(deps.clock.now(), state, written.staged),
    });
    return { outcome: 'staged', state, gates };
  } catch (err) {
    return failWith(deps, state, err);
  }
}

/** The release on offer, and the source it came from. */
interface Offer {
  source: UpdateSource;
  release: Release;
}

/**
 * A staged update that still verifies is kept: when the release on offer is the
 * staged one, nothing is downloaded or written again (docs/operating.md "apply on a
 * staged device"); a different release is returned to replace it. A refusal here is
 * recorded with phase staged, never `failed`: the staged update stays activatable.
 */
async function keepStaged(
  deps: AgentDeps,
  state: UpdateState,
  boot: BootState,
  options: ApplyOptions,
): Promise<{ result?: ApplyResult; offer?: Offer }> {
  if (!(await stagedSlotIntact(deps, state, boot))) {
    deps.log.warn('the staged slot no longer verifies; staging the update again', {
      code: 'STAGED_SLOT_DAMAGED',
      slot: state.targetSlot,
    });
    return {};
  }
  await passGates('device', await deviceFacts(deps, options, boot), []);
  // A release on offer that is refused (bad signature, unreachable) does not cost
  // the staged update: the refusal is recorded with phase staged.
  const offer = await fetchOffer(deps).catch((err: unknown) =>
    recordFailure(deps, state, 'staged', err),
  );
  if (offer.release.metadata.version === state.toVersion) {
    return { result: { outcome: 'already-staged', state } };
  }
  deps.log.info('a different release is on offer; it replaces the staged one', {
    staged: state.toVersion,
    offered: offer.release.metadata.version,
  });
  return { offer };
}

/**
 * 2. docs/design.md §2: mark the running slot good and clear stale trial state before
 * the other slot is touched, so GRUB can never select a half-written slot.
 */
async function settleBootEnv(deps: AgentDeps, boot: BootState, running: Slot): Promise<BootState> {
  if (boot.activeSlot !== running) {
    deps.log.info('clearing a stale activation before writing the other slot', {
      activeSlot: boot.activeSlot,
      runningSlot: running,
    });
    await deps.bootEnv.forceRollback();
  } else if (!boot.bootSuccess) {
    await deps.bootEnv.markGood();
  }
  const settled = await deps.bootEnv.read();
  if (settled.activeSlot !== running || !settled.bootSuccess) {
    throw lifecycleError('BOOTENV_NOT_SETTLED', 'the boot environment did not take the update');
  }
  return settled;
}

/**
 * 6.–7. Download straight into the passive slot's incoming directory (verified as it
 * arrives, resumable across kills), then install: renames, one read-back pass from the
 * medium, `version` last. Nothing is copied.
 */
async function stageInto(
  deps: AgentDeps,
  { source, release }: Offer,
  target: Slot,
  running: Slot,
): Promise<{ digests: SlotDigests; staged: StagedArtifact[] }> {
  const version = release.metadata.version;
  return deps.slots.openWriter(target, (writer) =>
    withRunningSlot(deps, running, async (runningDir) => {
      const staged = {} as Record<ArtifactName, StagedArtifact>;
      for (const artifact of ARTIFACT_NAMES) {
        const delta = deltaOptions(deps, artifact, {
          running,
          runningDir,
          target,
          targetDir: writer.dir,
        });
        const s = await source.stage(release, artifact, {
          stagingDir: writer.incomingDir,
          readBack: true,
          ...(delta ? { delta } : {}),
          ...(deps.signal ? { signal: deps.signal } : {}),
          ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
        });
        deps.log.info('artifact verified', {
          artifact,
          bytes: s.size,
          fetched: s.bytesFetched,
          resumed_from: s.resumedFrom,
          sha256: s.sha256,
          signature: s.signatureVerified,
          ...(s.delta
            ? {
                staged_by: s.delta.mode,
                reused: s.delta.reusedBytes + s.delta.patchedBytes,
                ...(s.delta.fallback ? { delta_fallback: s.delta.fallback } : {}),
              }
            : {}),
        });
        staged[artifact] = s;
      }
      deps.onProgressDone?.();
      const expected = perImage((name) => staged[name].sha256);
      deps.signal?.throwIfAborted();
      deps.log.info(`installing into slot ${target}`, { version });
      await writer.install(
        {
          files: perImage((name) => staged[name].path),
          version,
          // Read back from the medium while they downloaded: install compares these.
          readBack: perImage((name) => staged[name].readBack),
        },
        expected,
      );
      return { digests: expected, staged: Object.values(staged) };
    }),
  );
}

/** Fetch the release on offer (the source applies the trust policy). */
async function fetchOffer(deps: AgentDeps): Promise<Offer> {
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
