/**
 * Prometheus text exposition format 0.0.4 for the agent's state (issue #5 §8):
 * printed by `kubesolo-update metrics` (node-exporter textfile collector friendly) or
 * served on `/metrics`. Pure: the caller gathers the values; this only renders them.
 *
 * Format rules followed (Prometheus "Exposition formats", text format 0.0.4):
 * - `# HELP name text` with `\` and line feed escaped as `\\` and `\n`;
 * - `# TYPE name gauge|counter`, before the family's samples, once per family;
 * - label values escape `\`, `"` and line feed as `\\`, `\"`, `\n`;
 * - values are Go-style floats: `NaN`, `+Inf`, `-Inf` for the specials;
 * - lines end with `\n`, including the last one.
 */

/** The nine lifecycle phases of DESIGN §2, in lifecycle order. */
export const UPDATE_PHASES = [
  'idle',
  'checking',
  'downloading',
  'staged',
  'activated',
  'verifying',
  'success',
  'rolled_back',
  'failed',
] as const;
export type UpdatePhase = (typeof UPDATE_PHASES)[number];

export interface MetricsInput {
  /** Current phase from state.json; a value outside UPDATE_PHASES sets every phase to 0. */
  phase: string;
  /** state.json `attempt_count`. */
  attemptCount: number;
  /** state.json `health_check_failures`. */
  healthCheckFailures: number;
  /** GRUB `active_slot` (A|B); undefined renders as an empty label value. */
  activeSlot?: string | undefined;
  /** Slot the running kernel booted from (`kubesolo.slot=`). */
  runningSlot?: string | undefined;
  /** Version of the running slot. */
  version?: string | undefined;
  /** state.json `updated_at`; undefined omits the sample (the family stays declared). */
  lastTransition?: Date | undefined;
}

export const METRIC_NAMES = {
  phase: 'kubesolo_update_phase',
  attempts: 'kubesolo_update_attempts_total',
  healthCheckFailures: 'kubesolo_update_health_check_failures',
  info: 'kubesolo_update_info',
  lastTransition: 'kubesolo_update_last_transition_timestamp_seconds',
} as const;

export function escapeHelp(text: string): string {
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
}

export function renderMetrics(input: MetricsInput): string {
  const w = new Writer();

  w.family(
    METRIC_NAMES.phase,
    'gauge',
    'Current update lifecycle phase (1 for the current phase).',
  );
  for (const phase of UPDATE_PHASES) {
    w.sample(METRIC_NAMES.phase, phase === input.phase ? 1 : 0, labels({ phase }));
  }

  w.family(METRIC_NAMES.attempts, 'counter', 'Update attempts towards the current target version.');
  w.sample(METRIC_NAMES.attempts, input.attemptCount);

  w.family(
    METRIC_NAMES.healthCheckFailures,
    'gauge',
    'Failed post-boot health checks of the current attempt.',
  );
  w.sample(METRIC_NAMES.healthCheckFailures, input.healthCheckFailures);

  w.family(METRIC_NAMES.info, 'gauge', 'Boot slots and running OS version (always 1).');
  w.sample(
    METRIC_NAMES.info,
    1,
    labels({
      active_slot: input.activeSlot,
      running_slot: input.runningSlot,
      version: input.version,
    }),
  );

  w.family(
    METRIC_NAMES.lastTransition,
    'gauge',
    'Unix time of the last lifecycle phase change, in seconds.',
  );
  if (input.lastTransition !== undefined) {
    w.sample(METRIC_NAMES.lastTransition, input.lastTransition.getTime() / 1000);
  }

  return w.lines.map((l) => l + '\n').join('');
}

/** The Content-Type a `/metrics` endpoint serves this text with. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
