/**
 * state.json (docs/design.md §3.5): the lifecycle's persistent record. Written atomically.
 * A corrupt or unknown-version file never crashes the agent: reading it is a
 * STATE_CORRUPT error that changes nothing (`status`, `metrics` report it), and only a
 * command that writes, holding the run lock, keeps it aside as `state.json.corrupt-<time>`
 * and starts from idle (`recover`).
 */
import { rename } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Clock } from '../clock.js';
import { errnoCode, ioError, isReasonCode, OperationError, OTHER_REASON } from '../errors.js';
import { atomicWriteFile } from '../fs/atomic.js';
import { readControlText } from '../fs/control-file.js';
import type { Logger } from '../log.js';
import { isSlot, type Slot } from '../bootenv/types.js';
import type { SlotDigests } from '../slots/types.js';
import { assertTransition, isPhase, type Phase } from './phases.js';

/** Bumped only for incompatible changes of the file's meaning. */
const STATE_SCHEMA_VERSION = 1;

/** state.json is under 1 KiB; a larger file is not one we wrote. */
const STATE_MAX_BYTES = 64 * 1024;

/** The staged image's digests as the slots take them, when state.json holds them all. */
export function stagedDigests(s: UpdateState): SlotDigests | undefined {
  if (!s.kernelSha256 || !s.initramfsSha256) return undefined;
  return { vmlinuz: s.kernelSha256, initramfs: s.initramfsSha256 };
}

/** The state fields that record a staged image's digests (`kernel_sha256`, ...). */
export function digestFields(
  d: SlotDigests | undefined,
): Pick<UpdateState, 'kernelSha256' | 'initramfsSha256'> {
  return { kernelSha256: d?.vmlinuz, initramfsSha256: d?.initramfs };
}

export interface UpdateState {
  phase: Phase;
  fromVersion: string | undefined;
  toVersion: string | undefined;
  targetSlot: Slot | undefined;
  startedAt: string | undefined;
  updatedAt: string | undefined;
  lastError: string | undefined;
  reason: string | undefined;
  attemptCount: number;
  healthCheckFailures: number;
  /** Ours: digests of the staged image, re-verified by `activate`. */
  kernelSha256: string | undefined;
  initramfsSha256: string | undefined;
  /** Ours: kernel boot id when `activate` ran, to tell "not rebooted yet" from a fallback. */
  activatedBootId: string | undefined;
  // Ours, for fleet metrics (docs/fleet.md). All optional in the file: a state.json
  // written before they existed loads with them unset or zero.
  /** When the current phase was entered (self-transitions keep it). */
  phaseSince: string | undefined;
  /** When the slot was last handed to GRUB (staged → activated). */
  activatedAt: string | undefined;
  /** Last time metadata was fetched and verified (check or apply). */
  lastCheckAt: string | undefined;
  /** The version the update source offered at that check. */
  availableVersion: string | undefined;
  /** Bytes received over the network by the last apply that reached `staged`. */
  lastApplyBytes: number | undefined;
  /** Seconds from that apply's start to `staged`. */
  lastApplySeconds: number | undefined;
  /** Bytes of that apply's images the device did not fetch: copied from its own images or rebuilt by patches (docs/delta.md). */
  lastApplyReusedBytes: number | undefined;
  /** Lifetime count of delta updates given up for one full download, by reason code. */
  deltaFallbackCounts: ReasonCounts;
  /** Lifetime count of entries into `failed`, by reason code. */
  failureCounts: ReasonCounts;
  /** Lifetime count of entries into `rolled_back`, by reason code (BOOT_FALLBACK, ...). */
  rollbackCounts: ReasonCounts;
}

/** Reason code → count. Keys are stable reason codes, so the set stays small. */
export type ReasonCounts = Readonly<Record<string, number>>;

/** At most this many distinct reasons are kept per map (bounded file, bounded labels). */
export const MAX_REASON_KEYS = 32;

/** The key a reason is counted under: itself when it is a code and there is room. */
function reasonKey(counts: ReasonCounts, reason: string | undefined): string {
  if (reason === undefined || !isReasonCode(reason)) return OTHER_REASON;
  // One key stays free for OTHER until OTHER is there.
  const room = MAX_REASON_KEYS - (OTHER_REASON in counts ? 0 : 1);
  if (reason in counts || Object.keys(counts).length < room) return reason;
  return OTHER_REASON;
}

/** `counts` with one more `reason` (bounded keys, see reasonKey). */
export function bump(counts: ReasonCounts, reason: string | undefined): ReasonCounts {
  const key = reasonKey(counts, reason);
  return { ...counts, [key]: (counts[key] ?? 0) + 1 };
}

export function idleState(): UpdateState {
  return {
    phase: 'idle',
    fromVersion: undefined,
    toVersion: undefined,
    targetSlot: undefined,
    startedAt: undefined,
    updatedAt: undefined,
    lastError: undefined,
    reason: undefined,
    attemptCount: 0,
    healthCheckFailures: 0,
    kernelSha256: undefined,
    initramfsSha256: undefined,
    activatedBootId: undefined,
    phaseSince: undefined,
    activatedAt: undefined,
    lastCheckAt: undefined,
    availableVersion: undefined,
    lastApplyBytes: undefined,
    lastApplySeconds: undefined,
    lastApplyReusedBytes: undefined,
    deltaFallbackCounts: {},
    failureCounts: {},
    rollbackCounts: {},
  };
}

/**
 * How a field is kept in state.json: `text` and `count` strictly (a bad value makes the
 * file STATE_CORRUPT; text is written as '' when unset), the fleet-metrics kinds leniently
 * (see fleetString): `fleet-number` is left out of the file when unset.
 */
type FieldKind = 'text' | 'count' | 'fleet-text' | 'fleet-number' | 'fleet-counts';

/** The kinds a field of type T may be kept as. */
type KindOf<T> = T extends ReasonCounts
  ? 'fleet-counts'
  : [T] extends [number]
    ? 'count'
    : [T] extends [number | undefined]
      ? 'fleet-number'
      : 'text' | 'fleet-text';

/**
 * state.json's snake_case key of every UpdateState field but the phase, and its kind; the
 * order is the order the file is written in (docs/design.md §3.5 keys plus ours).
 */
const FILE_KEYS: {
  readonly [F in Exclude<keyof UpdateState, 'phase'>]-?: readonly [string, KindOf<UpdateState[F]>];
} = {
  fromVersion: ['from_version', 'text'],
  toVersion: ['to_version', 'text'],
  targetSlot: ['target_slot', 'text'],
  startedAt: ['started_at', 'text'],
  updatedAt: ['updated_at', 'text'],
  lastError: ['last_error', 'text'],
  reason: ['reason', 'text'],
  attemptCount: ['attempt_count', 'count'],
  healthCheckFailures: ['health_check_failures', 'count'],
  kernelSha256: ['kernel_sha256', 'text'],
  initramfsSha256: ['initramfs_sha256', 'text'],
  activatedBootId: ['activated_boot_id', 'text'],
  phaseSince: ['phase_since', 'fleet-text'],
  activatedAt: ['activated_at', 'fleet-text'],
  lastCheckAt: ['last_check_at', 'fleet-text'],
  availableVersion: ['available_version', 'fleet-text'],
  lastApplyBytes: ['last_apply_bytes', 'fleet-number'],
  lastApplySeconds: ['last_apply_seconds', 'fleet-number'],
  lastApplyReusedBytes: ['last_apply_reused_bytes', 'fleet-number'],
  deltaFallbackCounts: ['delta_fallback_counts', 'fleet-counts'],
  failureCounts: ['failure_counts', 'fleet-counts'],
  rollbackCounts: ['rollback_counts', 'fleet-counts'],
};

const FILE_FIELDS = Object.entries(FILE_KEYS) as [
  Exclude<keyof UpdateState, 'phase'>,
  readonly [string, FieldKind],
][];

/** The file's snake_case shape (docs/design.md §3.5 keys plus ours). */
export function toFileShape(s: UpdateState): Record<string, unknown> {
  const out: Record<string, unknown> = { schema_version: STATE_SCHEMA_VERSION, phase: s.phase };
  for (const [field, [key, kind]] of FILE_FIELDS) {
    const value = s[field];
    if (kind === 'text' || kind === 'fleet-text') out[key] = value ?? '';
    else if (kind !== 'fleet-number' || value !== undefined) out[key] = value;
  }
  return out;
}

class StateFormatError extends Error {}

function optString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new StateFormatError(`${key} must be a string`);
  return v;
}

function count(obj: Record<string, unknown>, key: string): number {
  const v = obj[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new StateFormatError(`${key} must be a non-negative integer`);
  }
  return v;
}

// The fleet-metrics keys are read leniently: a bad value is dropped, never a reason to
// treat the whole file as corrupt (that would forget a pending activation over a metric).
function fleetString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function fleetNumber(obj: Record<string, unknown>, key: string): number | undefined {
  const v = obj[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function fleetCounts(obj: Record<string, unknown>, key: string): ReasonCounts {
  const v = obj[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  const out: Record<string, number> = {};
  for (const [reason, n] of Object.entries(v as Record<string, unknown>)) {
    if (Object.keys(out).length >= MAX_REASON_KEYS) break;
    if (isReasonCode(reason) && typeof n === 'number' && Number.isInteger(n) && n >= 0) {
      out[reason] = n;
    }
  }
  return out;
}

/** Parse the file; throws StateFormatError for anything we cannot trust. */
export function parseStateFile(text: string): UpdateState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StateFormatError(`not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new StateFormatError('not a JSON object');
  }
  const obj = raw as Record<string, unknown>;
  // Files written by the Go agent carry no schema_version; their keys mean the same.
  const schema = obj.schema_version ?? STATE_SCHEMA_VERSION;
  if (schema !== STATE_SCHEMA_VERSION) {
    throw new StateFormatError(`unknown schema_version ${JSON.stringify(schema)}`);
  }
  if (!isPhase(obj.phase)) throw new StateFormatError(`unknown phase ${JSON.stringify(obj.phase)}`);
  const target = optString(obj, 'target_slot');
  if (target !== undefined && !isSlot(target)) {
    throw new StateFormatError(`target_slot must be A or B`);
  }
  const read: Record<FieldKind, (o: Record<string, unknown>, key: string) => unknown> = {
    text: optString,
    count,
    'fleet-text': fleetString,
    'fleet-number': fleetNumber,
    'fleet-counts': fleetCounts,
  };
  // Every field of FILE_KEYS, read by its kind: an UpdateState by construction.
  const fields = Object.fromEntries(
    FILE_FIELDS.map(([field, [key, kind]]) => [field, read[kind](obj, key)]),
  ) as Omit<UpdateState, 'phase'>;
  return { phase: obj.phase, ...fields, targetSlot: target };
}

/**
 * The fleet-metrics fields every transition keeps, derived here in the one place all
 * state writes pass through so no caller can forget them: when the phase was entered,
 * when the slot was activated, and per-reason counts of failures and rollbacks (each
 * entry into `failed`/`rolled_back` is one event; a repeated manual rollback counts again).
 */
function phaseBookkeeping(
  from: UpdateState,
  phase: Phase,
  reason: string | undefined,
  now: string,
): Partial<UpdateState> {
  const out: Partial<UpdateState> = {};
  if (phase !== from.phase) out.phaseSince = now;
  if (phase === 'activated' && from.phase === 'staged') out.activatedAt = now;
  if (phase === 'failed') out.failureCounts = bump(from.failureCounts, reason);
  if (phase === 'rolled_back') out.rollbackCounts = bump(from.rollbackCounts, reason);
  return out;
}

/** The state a transition produces (rules enforced, updated_at and bookkeeping stamped), without writing it. */
export function nextState(
  from: UpdateState,
  phase: Phase,
  changes: Partial<Omit<UpdateState, 'phase'>>,
  now: Date,
): UpdateState {
  assertTransition(from.phase, phase);
  const at = now.toISOString();
  return {
    ...from,
    ...changes,
    phase,
    updatedAt: at,
    ...phaseBookkeeping(from, phase, changes.reason, at),
  };
}

export interface StateReadResult {
  state: UpdateState;
  /** Set by `recover` when the file was corrupt and moved aside. */
  corruptPath?: string;
  corruptReason?: string;
}

/** state.json cannot be trusted; nothing was changed (read-only commands report it). */
class StateCorruptError extends OperationError {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(
      'STATE_CORRUPT',
      `${path} is corrupt (${problem}); it was left as it is. The next apply, activate or rollback keeps it as ${basename(path)}.corrupt-<time> and starts from idle`,
      { details: { path, problem } },
    );
  }
}

export interface StateStore {
  readonly path: string;
  /** The state; a missing file is idle. Writes nothing: a corrupt file is STATE_CORRUPT. */
  read(): Promise<StateReadResult>;
  /**
   * `read` for a command that writes, called under the run lock: a corrupt file is
   * renamed `state.json.corrupt-<time>` (kept for the operator; best effort on a
   * read-only mount) and the state is idle.
   */
  recover(): Promise<StateReadResult>;
  /**
   * Move to `phase` with `changes` applied, enforcing the transition rules, stamping
   * updated_at, and writing atomically. Returns the new state. A transition into
   * `failed` or `rolled_back` is one failure/rollback event and is counted.
   */
  transition(
    from: UpdateState,
    phase: Phase,
    changes?: Partial<Omit<UpdateState, 'phase'>>,
  ): Promise<UpdateState>;
  /**
   * Record observations that are not lifecycle events (a successful `check`): same
   * phase, same updated_at, nothing counted. Returns the new state.
   */
  record(from: UpdateState, changes: CheckObservation): Promise<UpdateState>;
}

/** What a successful metadata fetch tells about the fleet's offer. */
export type CheckObservation = Pick<UpdateState, 'lastCheckAt' | 'availableVersion'>;

export function createStateStore(path: string, clock: Clock, log: Logger): StateStore {
  async function write(state: UpdateState): Promise<void> {
    try {
      await atomicWriteFile(path, JSON.stringify(toFileShape(state), null, 2) + '\n', {
        mkdirp: true,
      });
    } catch (err) {
      throw ioError('STATE_WRITE_FAILED', `cannot write ${path}`, err, { path });
    }
  }

  async function read(): Promise<StateReadResult> {
    let text: string;
    try {
      text = await readControlText(path, { maxBytes: STATE_MAX_BYTES });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { state: idleState() };
      throw ioError('STATE_READ_FAILED', `cannot read ${path}`, err, { path });
    }
    try {
      return { state: parseStateFile(text) };
    } catch (err) {
      if (!(err instanceof StateFormatError)) throw err;
      throw new StateCorruptError(path, err.message);
    }
  }

  return {
    path,
    read,
    async recover() {
      try {
        return await read();
      } catch (err) {
        if (!(err instanceof StateCorruptError)) throw err;
        // Keep the evidence for the operator, then start over from idle.
        const stamp = clock.now().toISOString().replace(/[:.]/g, '-');
        const corruptPath = `${path}.corrupt-${stamp}`;
        await rename(path, corruptPath).catch(() => undefined);
        log.warn('state file is corrupt; moved aside and treated as idle', {
          code: 'STATE_CORRUPT',
          path,
          corruptPath,
          problem: err.problem,
        });
        return { state: idleState(), corruptPath, corruptReason: err.problem };
      }
    },
    async transition(from, phase, changes = {}) {
      const next = nextState(from, phase, changes, clock.now());
      await write(next);
      return next;
    },
    async record(from, changes) {
      const next: UpdateState = { ...from, ...changes };
      await write(next);
      return next;
    },
  };
}
