/**
 * Prometheus text exposition format 0.0.4 for the agent's state: printed by
 * `kubesolo-update metrics` (node-exporter textfile collector friendly) or served on
 * `/metrics`. Pure: the caller gathers the values; this only renders them. Every family
 * is documented in docs/fleet.md; label values are bounded sets (phases, slots,
 * versions, channel names, reason codes), never free text.
 *
 * Format rules followed (Prometheus "Exposition formats", text format 0.0.4):
 * - `# HELP name text` with `\` and line feed escaped as `\\` and `\n`;
 * - `# TYPE name gauge|counter`, before the family's samples, once per family;
 * - label values escape `\`, `"` and line feed as `\\`, `\"`, `\n`;
 * - values are Go-style floats: `NaN`, `+Inf`, `-Inf` for the specials;
 * - lines end with `\n`, including the last one.
 */

import { isReasonCode, OTHER_REASON } from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';
import { versionNumber } from '../config/version.js';
// The one list of the nine phases (docs/design.md §2). The only import of this leaf
// module from agent/: phases.ts is the lifecycle's vocabulary and imports nothing of
// the agent itself.
import { PHASES } from '../stores/phases.js';

/** Which build answers: `kubesolo_update_build_info`. */
export interface BuildInfo {
  /** The agent's version (src/version.ts). */
  version: string;
  /** GOARCH-style architecture of the executable (amd64, arm64). */
  arch: string;
  /** The Node.js runtime it runs on (`process.version`). */
  nodejs: string;
}

/** Something the exporter could not read; `source` and `code` are bounded label values. */
export interface MetricsProblem {
  /** One of METRICS_SOURCES. */
  source: MetricsSource;
  /** The stable reason code of the failure (OTHER for anything else). */
  code: string;
}

/** What `metrics` reads, each on its own: a failure of one leaves the others exported. */
const METRICS_SOURCES = [
  'state',
  'bootenv',
  'cmdline',
  'slot_version',
  'device_id',
  'floor',
  'releases',
] as const;
export type MetricsSource = (typeof METRICS_SOURCES)[number];

export interface MetricsInput {
  build: BuildInfo;
  /** Current phase from state.json; a value outside PHASES (or '' when unreadable) sets every phase to 0. */
  phase: string;
  /** state.json `attempt_count`; undefined (state unreadable) omits the sample. */
  attemptCount?: number | undefined;
  /** state.json `health_check_failures`; undefined omits the sample. */
  healthCheckFailures?: number | undefined;
  /** GRUB `active_slot` (A|B); undefined renders as an empty label value. */
  activeSlot?: string | undefined;
  /** Slot the running kernel booted from (`kubesolo.slot=`). */
  runningSlot?: string | undefined;
  /** Version of the running slot. */
  version?: string | undefined;
  /** When the current phase was entered; undefined omits the sample (the family stays declared). */
  lastTransition?: Date | undefined;
  /** The device's update channel (config `channel`). */
  channel?: string | undefined;
  /** state.json `reason`: the code recorded with the current phase. */
  reason?: string | undefined;
  /** Lifetime failures (entries into `failed`) by reason code; undefined (state unreadable) exports no sample. */
  failureCounts?: Readonly<Record<string, number>> | undefined;
  /** Lifetime rollbacks (entries into `rolled_back`) by reason code; undefined exports no sample. */
  rollbackCounts?: Readonly<Record<string, number>> | undefined;
  /** Last successful check (metadata fetched and verified). */
  lastCheck?: Date | undefined;
  /** The version on offer at that check. */
  availableVersion?: string | undefined;
  /** When the slot under trial was handed to GRUB. */
  activatedAt?: Date | undefined;
  /** Bytes fetched by the last apply that reached `staged`. */
  lastApplyBytes?: number | undefined;
  /** Seconds that apply took. */
  lastApplySeconds?: number | undefined;
  /** Bytes of that apply's images taken from the device's own images or rebuilt by patches. */
  lastApplyReusedBytes?: number | undefined;
  /** Lifetime delta updates given up for one full download, by reason code. */
  deltaFallbackCounts?: Readonly<Record<string, number>>;
  /** The device's rollout bucket (0..99) for the version on offer. */
  rolloutBucket?: number | undefined;
  /** The anti-rollback floor (src/stores/floor.ts). */
  floorVersion?: string | undefined;
  /** What could not be read for this snapshot. */
  problems?: readonly MetricsProblem[];
  /** The operator's hold (src/stores/hold.ts); undefined omits the sample. */
  held?: boolean | undefined;
  /** What the device remembers of releases (src/stores/releases.ts); undefined: unreadable. */
  releases?: ReleaseMemoryInput | undefined;
}

/** The release records as the metrics show them (bounded: at most 32 records). */
export interface ReleaseMemoryInput {
  /** Quarantined releases: version and reason code. */
  quarantined: readonly { version: string; reason: string }[];
  /** Releases backing off after identical verification failures: until when. */
  backoffs: readonly { version: string; until: Date }[];
  /** The last outcome of each version this device tried (one per version). */
  outcomes: readonly { version: string; outcome: string }[];
}

/**
 * The reasons a rollback is recorded with; their counters are always exported (0 until
 * the first one) so `increase()` sees the first rollback too.
 */
export const ROLLBACK_REASONS = [
  'BOOT_FALLBACK',
  'HEALTH_CHECK_FAILED',
  'MANUAL_ROLLBACK',
] as const satisfies readonly ReasonCode[];

export const METRIC_NAMES = {
  buildInfo: 'kubesolo_update_build_info',
  phase: 'kubesolo_update_phase',
  targetAttempts: 'kubesolo_update_target_attempts',
  healthCheckFailures: 'kubesolo_update_health_check_failures',
  info: 'kubesolo_update_info',
  lastTransition: 'kubesolo_update_last_transition_timestamp_seconds',
  reason: 'kubesolo_update_reason_info',
  failures: 'kubesolo_update_failures_total',
  rollbacks: 'kubesolo_update_rollbacks_total',
  lastCheck: 'kubesolo_update_last_check_timestamp_seconds',
  available: 'kubesolo_update_available_info',
  versionNumber: 'kubesolo_update_version_number',
  availableVersionNumber: 'kubesolo_update_available_version_number',
  activated: 'kubesolo_update_activated_timestamp_seconds',
  lastApplyBytes: 'kubesolo_update_last_apply_bytes',
  lastApplySeconds: 'kubesolo_update_last_apply_duration_seconds',
  lastApplyReusedBytes: 'kubesolo_update_last_apply_reused_bytes',
  deltaFallbacks: 'kubesolo_update_delta_fallbacks_total',
  rolloutBucket: 'kubesolo_update_rollout_bucket',
  floorVersionNumber: 'kubesolo_update_floor_version_number',
  problem: 'kubesolo_update_metrics_problem',
  held: 'kubesolo_update_held',
  quarantinedReleases: 'kubesolo_update_quarantined_releases',
  quarantinedInfo: 'kubesolo_update_quarantined_info',
  backoffUntil: 'kubesolo_update_verification_backoff_until_timestamp_seconds',
  releaseOutcome: 'kubesolo_update_release_outcome_info',
} as const;

/**
 * Series renamed by issue 30 (docs/fleet.md "Migrating from earlier series"): the old
 * name, what replaces it.
 */
export const RENAMED_SERIES = {
  kubesolo_update_attempts_total: METRIC_NAMES.targetAttempts,
} as const;

/** A reason as a label value: a reason code, or OTHER for anything else. */
function reasonLabel(reason: string): string {
  return isReasonCode(reason) ? reason : OTHER_REASON;
}

/** Counts by reason label; reasons that collapse into OTHER are summed. */
function byReasonLabel(
  counts: Readonly<Record<string, number>>,
  always: readonly string[],
): [string, number][] {
  const out = new Map<string, number>(always.map((r) => [r, 0]));
  for (const [reason, n] of Object.entries(counts)) {
    const key = reasonLabel(reason);
    out.set(key, (out.get(key) ?? 0) + n);
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A time as Unix seconds; unknown stays unknown. */
function seconds(d: Date): number;
function seconds(d: Date | undefined): number | undefined;
function seconds(d: Date | undefined): number | undefined {
  return d === undefined ? undefined : d.getTime() / 1000;
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function formatSampleValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function labels(pairs: Record<string, string | undefined>): string {
  const body = Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabelValue(v ?? '')}"`)
    .join(',');
  return `{${body}}`;
}

class Writer {
  readonly lines: string[] = [];
  family(name: string, type: 'gauge' | 'counter', help: string): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, value: number, labelText = ''): void {
    this.lines.push(`${name}${labelText} ${formatSampleValue(value)}`);
  }
  /** A gauge family with its one unlabelled sample, or none while the value is unknown. */
  gauge(name: string, help: string, value: number | undefined): void {
    this.family(name, 'gauge', help);
    if (value !== undefined) this.sample(name, value);
  }
  /** A counter family with one sample per reason label (`always`: 0 until the first one). */
  reasonCounter(
    name: string,
    help: string,
    counts: Readonly<Record<string, number>> | undefined,
    always: readonly string[] = [],
  ): void {
    this.family(name, 'counter', help);
    if (counts === undefined) return;
    for (const [reason, n] of byReasonLabel(counts, always)) {
      this.sample(name, n, labels({ reason }));
    }
  }
}

export function renderMetrics(input: MetricsInput): string {
  const w = new Writer();
  lifecycleFamilies(w, input);
  releaseFamilies(w, input);
  releaseMemoryFamilies(w, input);
  problemFamily(w, input.problems ?? []);
  return w.lines.map((l) => l + '\n').join('');
}

/** The build, the phase and what the state records about attempts, failures and rollbacks. */
function lifecycleFamilies(w: Writer, input: MetricsInput): void {
  w.family(
    METRIC_NAMES.buildInfo,
    'gauge',
    'The kubesolo-update build serving these metrics (always 1).',
  );
  w.sample(
    METRIC_NAMES.buildInfo,
    1,
    labels({ version: input.build.version, arch: input.build.arch, nodejs: input.build.nodejs }),
  );

  w.family(
    METRIC_NAMES.phase,
    'gauge',
    'Current update lifecycle phase (1 for the current phase).',
  );
  for (const phase of PHASES) {
    w.sample(METRIC_NAMES.phase, phase === input.phase ? 1 : 0, labels({ phase }));
  }

  // A gauge: it starts again at 1 when the target version changes.
  w.gauge(
    METRIC_NAMES.targetAttempts,
    'Update attempts towards the current target version (starts again when the target changes).',
    input.attemptCount,
  );

  w.gauge(
    METRIC_NAMES.healthCheckFailures,
    'Failed post-boot health checks of the current attempt.',
    input.healthCheckFailures,
  );

  w.family(METRIC_NAMES.info, 'gauge', 'Boot slots and running OS version (always 1).');
  w.sample(
    METRIC_NAMES.info,
    1,
    labels({
      active_slot: input.activeSlot,
      running_slot: input.runningSlot,
      version: input.version,
      channel: input.channel,
    }),
  );

  w.gauge(
    METRIC_NAMES.lastTransition,
    'Unix time the current lifecycle phase was entered, in seconds.',
    seconds(input.lastTransition),
  );

  w.family(
    METRIC_NAMES.reason,
    'gauge',
    'Reason code recorded with the current phase, empty when none (always 1).',
  );
  w.sample(
    METRIC_NAMES.reason,
    1,
    labels({ reason: input.reason === undefined ? '' : reasonLabel(input.reason) }),
  );

  w.reasonCounter(
    METRIC_NAMES.failures,
    'Update attempts that ended failed, by reason code.',
    input.failureCounts,
  );

  w.reasonCounter(
    METRIC_NAMES.rollbacks,
    'Rollbacks by reason code (BOOT_FALLBACK: the bootloader fell back).',
    input.rollbackCounts,
    ROLLBACK_REASONS,
  );
}

/** Checks, offers, versions, the last apply, the rollout wave and the floor. */
function releaseFamilies(w: Writer, input: MetricsInput): void {
  w.gauge(
    METRIC_NAMES.lastCheck,
    'Unix time of the last successful check (metadata fetched and verified), in seconds.',
    seconds(input.lastCheck),
  );

  w.family(
    METRIC_NAMES.available,
    'gauge',
    'Version on offer at the last successful check (always 1).',
  );
  if (input.availableVersion !== undefined) {
    w.sample(METRIC_NAMES.available, 1, labels({ version: input.availableVersion }));
  }

  versionNumberFamily(w, METRIC_NAMES.versionNumber, 'Running version', input.version);
  versionNumberFamily(
    w,
    METRIC_NAMES.availableVersionNumber,
    'Version on offer',
    input.availableVersion,
  );

  w.gauge(
    METRIC_NAMES.activated,
    'Unix time the slot on trial was handed to the bootloader, in seconds.',
    seconds(input.activatedAt),
  );

  w.gauge(
    METRIC_NAMES.lastApplyBytes,
    'Bytes fetched over the network by the last apply that staged an update.',
    input.lastApplyBytes,
  );

  w.gauge(
    METRIC_NAMES.lastApplySeconds,
    'Seconds the last apply that staged an update took, from start to staged.',
    input.lastApplySeconds,
  );

  deltaFamilies(w, input);

  // Rollout waves and the floor (docs/operating.md "Fleet safety"): numbers, no labels.
  w.gauge(
    METRIC_NAMES.rolloutBucket,
    "The device's rollout bucket (0..99) for the version on offer; a wave of P % reaches it when P > bucket.",
    input.rolloutBucket,
  );

  versionNumberFamily(
    w,
    METRIC_NAMES.floorVersionNumber,
    'Anti-rollback floor',
    input.floorVersion,
  );
}

/** The degraded exposition: one sample per source that could not be read. */
function problemFamily(w: Writer, problems: readonly MetricsProblem[]): void {
  w.family(
    METRIC_NAMES.problem,
    'gauge',
    'A source the exporter could not read for this scrape, with the reason code (1 while it lasts).',
  );
  for (const { source, code } of problemsOf(problems)) {
    w.sample(METRIC_NAMES.problem, 1, labels({ source, code }));
  }
}

/** One sample per source (the first code wins), in METRICS_SOURCES order: bounded labels. */
function problemsOf(problems: readonly MetricsProblem[]): MetricsProblem[] {
  return METRICS_SOURCES.flatMap((source) => {
    const first = problems.find((p) => p.source === source);
    return first ? [{ source, code: reasonLabel(first.code) }] : [];
  });
}

/** Delta updates (docs/delta.md): what the device did not fetch, and when it gave up. */
function deltaFamilies(w: Writer, input: MetricsInput): void {
  w.gauge(
    METRIC_NAMES.lastApplyReusedBytes,
    'Bytes of the last staged update taken from the images the device holds or rebuilt by patches, not fetched.',
    input.lastApplyReusedBytes,
  );
  w.reasonCounter(
    METRIC_NAMES.deltaFallbacks,
    'Delta updates given up for one full download, by reason code.',
    input.deltaFallbackCounts ?? {},
  );
}

/**
 * The hold and the device's memory of releases (docs/fleet.md "Failed releases across the
 * fleet"): whether the device is held, what it quarantined, what backs off, and the last
 * outcome of each release it tried, from which the fleet's failure ratio per release is
 * computed (`kubesolo_update:release_failure_ratio`).
 */
function releaseMemoryFamilies(w: Writer, input: MetricsInput): void {
  w.gauge(
    METRIC_NAMES.held,
    'An operator holds this device (1): apply and activate refuse.',
    input.held === undefined ? undefined : input.held ? 1 : 0,
  );

  const memory = input.releases;
  w.gauge(
    METRIC_NAMES.quarantinedReleases,
    'Releases quarantined on this device.',
    memory?.quarantined.length,
  );
  w.family(
    METRIC_NAMES.quarantinedInfo,
    'gauge',
    'A release quarantined on this device, with the reason code (always 1).',
  );
  for (const q of memory?.quarantined ?? []) {
    w.sample(
      METRIC_NAMES.quarantinedInfo,
      1,
      labels({ version: q.version, reason: reasonLabel(q.reason) }),
    );
  }
  w.family(
    METRIC_NAMES.backoffUntil,
    'gauge',
    'Unix time before which a release whose images failed verification three times in a row is not tried again, in seconds.',
  );
  for (const b of memory?.backoffs ?? []) {
    w.sample(METRIC_NAMES.backoffUntil, seconds(b.until), labels({ version: b.version }));
  }
  w.family(
    METRIC_NAMES.releaseOutcome,
    'gauge',
    'How the last try of a release ended on this device: on_trial, committed, rolled_back, manual_rollback, marked_bad, verification_failed (always 1).',
  );
  for (const o of memory?.outcomes ?? []) {
    w.sample(METRIC_NAMES.releaseOutcome, 1, labels({ version: o.version, outcome: o.outcome }));
  }
}

/** A gauge of a version as a number (`what` names it in the help); no sample when unknown. */
function versionNumberFamily(
  w: Writer,
  name: string,
  what: string,
  version: string | undefined,
): void {
  const n = version === undefined ? undefined : versionNumber(version);
  w.gauge(name, `${what} as MAJOR*1e10+MINOR*1e5+PATCH, ordered like versions.`, n);
}

/** The Content-Type a `/metrics` endpoint serves this text with. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
