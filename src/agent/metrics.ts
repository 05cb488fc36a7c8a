/**
 * What `metrics` reports: the renderer's input (src/metrics/exposition.ts) from
 * state.json and the boot side, read fresh for every snapshot.
 *
 * Degraded, never failed (docs/fleet.md "Conventions"): each source is read on its
 * own, and one that cannot be read becomes a `kubesolo_update_metrics_problem` sample
 * beside everything that could, the way node_exporter keeps serving with a scrape
 * error. A device with a corrupt GRUB environment still reports its phase, its counters
 * and why its slots are unknown, instead of vanishing from the fleet.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseRunningSlot, readCmdline } from '../bootenv/cmdline.js';
import { isSlot, type Slot } from '../bootenv/types.js';
import { errnoCode, KubesoloError } from '../errors.js';
import { rolloutBucket } from '../fleet/rollout.js';
import { atomicWriteFile } from '../fs/atomic.js';
import {
  renderMetrics,
  type MetricsInput,
  type MetricsProblem,
  type MetricsSource,
  type ReleaseMemoryInput,
} from '../metrics/exposition.js';
import { backoffUntil, type ReleaseRecord } from '../stores/releases.js';
import { goArch, VERSION } from '../version.js';
import type { AgentContext } from './context.js';
import type { UpdateState } from '../stores/state.js';

/** An ISO time from state.json as a Date; undefined when absent or unreadable. */
function dateOf(iso: string | undefined): Date | undefined {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** This build, for `kubesolo_update_build_info`. */
export const BUILD_INFO = { version: VERSION, arch: goArch(), nodejs: process.version };

/**
 * The renderer's input from state.json and the boot side. A state.json written before
 * the fleet fields existed has no phase_since/activated_at: updated_at stands in.
 * `state` undefined (unreadable): no phase is 1 and the per-state series are left out.
 */
export function metricsInput(
  state: UpdateState | undefined,
  boot: { activeSlot?: string | undefined; runningSlot?: string | undefined },
  version: string | undefined,
  channel: string | undefined,
): MetricsInput {
  const common = {
    build: BUILD_INFO,
    activeSlot: boot.activeSlot,
    runningSlot: boot.runningSlot,
    version,
    channel,
  };
  if (state === undefined) return { ...common, phase: '' };
  const phaseSince = dateOf(state.phaseSince ?? state.updatedAt);
  const onTrial = state.phase === 'activated' || state.phase === 'verifying';
  return {
    ...common,
    phase: state.phase,
    attemptCount: state.attemptCount,
    healthCheckFailures: state.healthCheckFailures,
    lastTransition: phaseSince,
    reason: state.reason,
    failureCounts: state.failureCounts,
    rollbackCounts: state.rollbackCounts,
    lastCheck: dateOf(state.lastCheckAt),
    availableVersion: state.availableVersion,
    activatedAt: dateOf(state.activatedAt) ?? (onTrial ? phaseSince : undefined),
    lastApplyBytes: state.lastApplyBytes,
    lastApplySeconds: state.lastApplySeconds,
    lastApplyReusedBytes: state.lastApplyReusedBytes,
    deltaFallbackCounts: state.deltaFallbackCounts,
  };
}

/** A failure's code: the agent's reason code, else the errno name (EACCES, EIO), else UNEXPECTED. */
function problemCode(err: unknown): string {
  if (err instanceof KubesoloError) return err.code;
  return errnoCode(err) ?? 'UNEXPECTED';
}

/** Collects what could not be read; `read` turns a failed read into undefined plus a problem. */
class Problems {
  readonly list: MetricsProblem[] = [];
  add(source: MetricsSource, code: string): void {
    this.list.push({ source, code });
  }
  async read<T>(source: MetricsSource, work: Promise<T>): Promise<T | undefined> {
    try {
      return await work;
    } catch (err) {
      this.add(source, problemCode(err));
      return undefined;
    }
  }
}

export interface SnapshotOptions {
  /**
   * Keep the running slot's version for this boot in update/running-version.json
   * (`metrics --record-running-version`, run by the DaemonSet's privileged health check
   * container). Off by default: `metrics` changes nothing on the device.
   */
  recordRunningVersion?: boolean;
}

/** The exposition as it is now: a long-running --listen serves the state of the moment. */
export async function metricsSnapshot(
  agent: AgentContext,
  options: SnapshotOptions = {},
): Promise<string> {
  const { deps, paths } = agent;
  const problems = new Problems();

  // Read only: a corrupt file stays as it is and is one problem (STATE_CORRUPT), its
  // series are left out rather than made up from an idle state.
  const state = (await problems.read('state', deps.state.read()))?.state;

  const boot = await problems.read('bootenv', deps.bootEnv.read());
  // The running slot comes from the kernel command line, not the boot environment.
  const runningSlot =
    boot?.runningSlot ??
    (await problems
      .read('cmdline', readCmdline(paths.cmdline))
      .then((text) => (text === undefined ? undefined : parseRunningSlot(text))));
  const version = runningSlot
    ? await runningVersion(agent, runningSlot, problems, options.recordRunningVersion === true)
    : undefined;

  return renderMetrics({
    ...metricsInput(
      state,
      { activeSlot: boot?.activeSlot, runningSlot },
      version,
      deps.policy.channel,
    ),
    ...(await fleetMetrics(agent, state?.availableVersion, problems)),
    ...(await memoryMetrics(agent, problems)),
    problems: problems.list,
  });
}

/**
 * The running slot's version: read from the slot; where that fails, the version a
 * privileged run of the same boot recorded beside state.json (`running-version.json`,
 * written with `record`). An unprivileged reader (the metrics container cannot mount a
 * block slot) serves it; the DaemonSet's health check container records it once per boot
 * (docs/kubernetes.md). A record of another boot or slot is never used: the version
 * changes only across a reboot.
 */
interface VersionRecord {
  boot_id: string;
  slot: Slot;
  version: string;
}

async function runningVersion(
  agent: AgentContext,
  slot: Slot,
  problems: Problems,
  record: boolean,
): Promise<string | undefined> {
  const { deps, paths } = agent;
  const recordPath = join(dirname(paths.state), 'running-version.json');
  const bootId = await deps.bootId();
  let recorded: VersionRecord | undefined;
  try {
    const doc = JSON.parse(await readFile(recordPath, 'utf8')) as Partial<VersionRecord>;
    if (typeof doc.boot_id === 'string' && isSlot(doc.slot) && typeof doc.version === 'string') {
      recorded = doc as VersionRecord;
    }
  } catch {
    // No record yet, or a torn one: the slot itself is read below.
  }
  try {
    const version = await deps.slots.readVersion(slot);
    const fresh =
      recorded?.boot_id === bootId && recorded?.slot === slot && recorded?.version === version;
    if (record && version !== undefined && bootId !== undefined && !fresh) {
      const record: VersionRecord = { boot_id: bootId, slot, version };
      // Best effort: a read-only state directory keeps serving without a record.
      await atomicWriteFile(recordPath, JSON.stringify(record) + '\n', { mkdirp: true }).catch(
        () => undefined,
      );
    }
    return version;
  } catch (err) {
    if (bootId !== undefined && recorded?.boot_id === bootId && recorded.slot === slot) {
      return recorded.version;
    }
    problems.add('slot_version', problemCode(err));
    return undefined;
  }
}

/**
 * The rollout bucket for the version on offer and the floor. Read-only like the rest
 * of `metrics`; an unreadable file leaves its series out and says why.
 */
async function fleetMetrics(
  agent: AgentContext,
  availableVersion: string | undefined,
  problems: Problems,
): Promise<Pick<MetricsInput, 'rolloutBucket' | 'floorVersion'>> {
  const { fleet } = agent.deps;
  const id = await problems.read('device_id', fleet.readDeviceId());
  const floor = await problems.read('floor', fleet.readFloor());
  return {
    rolloutBucket:
      id === undefined || availableVersion === undefined
        ? undefined
        : rolloutBucket(id.id, availableVersion),
    floorVersion: floor?.version,
  };
}

/** The hold and the release records; an unreadable records file leaves its samples out and says why. */
async function memoryMetrics(
  agent: AgentContext,
  problems: Problems,
): Promise<Pick<MetricsInput, 'held' | 'releases'>> {
  const { fleet } = agent.deps;
  // A damaged hold file still holds (src/stores/hold.ts): it is exported as held.
  const hold = await fleet.readHold();
  const records = await problems.read('releases', fleet.releases.read());
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
