/** `check`: every gate's verdict for the release on offer; changes no state. */
import { otherSlot, type Slot } from '../../bootenv/types.js';
import type { Release } from '../../transport/source.js';
import type { AgentDeps } from '../deps.js';
import { evaluateGates, type GateVerdict, type ReleaseFacts } from '../gates.js';
import { fleetFacts, preflightFacts, windowFacts } from './run.js';

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
