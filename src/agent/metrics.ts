/**
 * What `metrics` reports: the renderer's input (src/metrics/exposition.ts) from
 * state.json and the boot side, read fresh for every snapshot.
 */
import { rolloutBucket } from '../fleet/rollout.js';
import {
  renderMetrics,
  type MetricsInput,
  type ReleaseMemoryInput,
} from '../metrics/exposition.js';
import { backoffUntil, type ReleaseRecord } from '../stores/releases.js';
import type { AgentContext } from './context.js';
import type { UpdateState } from '../stores/state.js';

/** An ISO time from state.json as a Date; undefined when absent or unreadable. */
function dateOf(iso: string | undefined): Date | undefined {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * The renderer's input from state.json and the boot side. A state.json written before
 * the fleet fields existed has no phase_since/activated_at: updated_at stands in.
 */
export function metricsInput(
  state: UpdateState,
  boot: { activeSlot?: string | undefined; runningSlot?: string | undefined },
  version: string | undefined,
  channel: string | undefined,
): MetricsInput {
  const phaseSince = dateOf(state.phaseSince ?? state.updatedAt);
  const onTrial = state.phase === 'activated' || state.phase === 'verifying';
  return {
    phase: state.phase,
    attemptCount: state.attemptCount,
    healthCheckFailures: state.healthCheckFailures,
    activeSlot: boot.activeSlot,
    runningSlot: boot.runningSlot,
    version,
    channel,
    lastTransition: phaseSince,
    reason: state.reason,
    failureCounts: state.failureCounts,
    rollbackCounts: state.rollbackCounts,
    lastCheck: dateOf(state.lastCheckAt),
    availableVersion: state.availableVersion,
    activatedAt: dateOf(state.activatedAt) ?? (onTrial ? phaseSince : undefined),
    lastApplyBytes: state.lastApplyBytes,
    lastApplySeconds: state.lastApplySeconds,
  };
}

/** The exposition as it is now: a long-running --listen serves the state of the moment. */
export async function metricsSnapshot(agent: AgentContext): Promise<string> {
  const { state } = await agent.deps.state.read();
  const boot = await agent.deps.bootEnv.read();
  const version = boot.runningSlot
    ? await agent.deps.slots.readVersion(boot.runningSlot)
    : undefined;
  return renderMetrics({
    ...metricsInput(state, boot, version, agent.deps.policy.channel),
    ...(await fleetMetrics(agent, state.availableVersion)),
    ...(await memoryMetrics(agent)),
  });
}

/** The hold and the release records; an unreadable records file leaves its samples out. */
async function memoryMetrics(
  agent: AgentContext,
): Promise<Pick<MetricsInput, 'held' | 'releases'>> {
  const { fleet } = agent.deps;
  const hold = await fleet.readHold();
  const records = await fleet.releases.read().catch(() => undefined);
  return {
    held: hold !== undefined,
    releases: records === undefined ? undefined : releaseMemoryInput(records),
  };
}

/**
 * The records as the metrics show them, one sample per label set: records of one version
 * with other images collapse (the newest record, last in the list, wins).
 */
function releaseMemoryInput(records: readonly ReleaseRecord[]): ReleaseMemoryInput {
  const outcomes = new Map<string, string>();
  const quarantined = new Map<string, string>();
  const backoffs = new Map<string, Date>();
  for (const r of records) {
    if (r.outcome !== undefined) outcomes.set(r.version, r.outcome);
    if (r.quarantined !== undefined) quarantined.set(r.version, r.quarantined.reason);
    const until = backoffUntil(r);
    if (until !== undefined) backoffs.set(r.version, until);
  }
  return {
    quarantined: [...quarantined].map(([version, reason]) => ({ version, reason })),
    backoffs: [...backoffs].map(([version, until]) => ({ version, until })),
    outcomes: [...outcomes].map(([version, outcome]) => ({ version, outcome })),
  };
}

/**
 * The rollout bucket for the version on offer and the floor. Read-only like the rest
 * of `metrics`; an unreadable file leaves its series out instead of failing the scrape.
 */
async function fleetMetrics(
  agent: AgentContext,
  availableVersion: string | undefined,
): Promise<Pick<MetricsInput, 'rolloutBucket' | 'floorVersion'>> {
  const { fleet } = agent.deps;
  const id = await fleet.readDeviceId().catch(() => undefined);
  const floor = await fleet.readFloor().catch(() => undefined);
  return {
    rolloutBucket:
      id === undefined || availableVersion === undefined
        ? undefined
        : rolloutBucket(id.id, availableVersion),
    floorVersion: floor?.version,
  };
}
