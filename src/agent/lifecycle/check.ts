/** `check`: every gate's verdict for the release on offer; changes no state. */
import { otherSlot, type Slot } from '../../bootenv/types.js';
import type { DownloadEstimate } from '../../transport/delta/estimate.js';
import { ARTIFACT_NAMES, type ArtifactName } from '../../metadata/images.js';
import type { Release, UpdateSource } from '../../transport/source.js';
import { deltaOptions, withRunningSlot } from './delta-seeds.js';
import type { AgentDeps } from '../deps.js';
import { evaluateGates, type ReleaseFacts } from '../../gates/gates.js';
import type { GateVerdict } from '../../gates/verdict.js';
import { deviceFacts, fleetFacts, preflightFacts } from './run.js';

export interface CheckReport {
  currentVersion: string | undefined;
  availableVersion: string | undefined;
  updateAvailable: boolean;
  /** true when an update is available and every gate passes. */
  wouldApply: boolean;
  /**
   * The activation stage's verdicts (the maintenance window): a refusal here does not
   * refuse the update, it says the update would be staged now and activated later.
   */
  activation: GateVerdict[];
  /** true when it would also be activated now. */
  activatesNow: boolean;
  runningSlot: Slot | undefined;
  targetSlot: Slot | undefined;
  gates: GateVerdict[];
  release?: Release;
  /** What apply would download, image by image (docs/delta.md "Seeing it"), when an update is available. */
  downloads?: Partial<Record<ArtifactName, DownloadEstimate>>;
}

/** Evaluate every gate for the release on offer and report each verdict. Changes no state. */
export async function check(
  deps: AgentDeps,
  options: { force: boolean; allowDowngrade: boolean },
): Promise<CheckReport> {
  const boot = await deps.bootEnv.read();
  const device = await deviceFacts(deps, options, boot);
  const gates = await evaluateGates('device', device);
  const source = await deps.openSource();
  const release = await source.fetchRelease();
  const md = release.metadata;
  const runningSlot = boot.runningSlot;
  const current = runningSlot ? await deps.slots.readVersion(runningSlot) : undefined;
  const facts: ReleaseFacts = {
    ...device,
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
  const wouldApply = updateAvailable && gates.every((g) => g.pass);
  const activation = await evaluateGates('activation', device);
  const downloads =
    updateAvailable && runningSlot !== undefined && targetSlot !== undefined
      ? await estimateDownloads(deps, source, release, runningSlot, targetSlot)
      : undefined;
  return {
    ...(downloads === undefined ? {} : { downloads }),
    currentVersion: current,
    availableVersion: md.version,
    updateAvailable,
    wouldApply,
    activation,
    activatesNow: wouldApply && activation.every((g) => g.pass),
    runningSlot,
    targetSlot,
    gates,
    release,
  };
}

/**
 * Per image, what apply would fetch: by delta with the seeds the cache knows (never
 * reading a seed whole), else the whole image. An estimate that cannot be made is left
 * out; it never fails the check.
 */
async function estimateDownloads(
  deps: AgentDeps,
  source: UpdateSource,
  release: Release,
  running: Slot,
  target: Slot,
): Promise<Partial<Record<ArtifactName, DownloadEstimate>> | undefined> {
  const estimate = source.estimate?.bind(source);
  if (estimate === undefined || deps.deltaCacheDir === undefined) return undefined;
  try {
    return await withRunningSlot(deps, running, (runningDir) =>
      deps.slots.openReader(target, async (targetDir) => {
        const out: Partial<Record<ArtifactName, DownloadEstimate>> = {};
        for (const artifact of ARTIFACT_NAMES) {
          const delta = deltaOptions(deps, artifact, { running, runningDir, target, targetDir });
          if (delta !== undefined) out[artifact] = await estimate(release, artifact, delta);
        }
        return out;
      }),
    );
  } catch (err) {
    deps.log.debug('no download estimate', {
      error: err instanceof Error ? err.message : String(err),
    });
    return undefined;
  }
}
