/**
 * state.json (DESIGN §3.5): the lifecycle's persistent record. Written atomically; a
 * corrupt or unknown-version file is kept aside as `state.json.corrupt-<time>`,
 * reported, and treated as idle — it never crashes the agent.
 */
import { readFile, rename } from 'node:fs/promises';
import type { Clock } from '../clock.js';
import { errnoCode, OperationError } from '../errors.js';
import { atomicWriteFile } from '../fs/atomic.js';
import type { Logger } from '../log.js';
import { isSlot, type Slot } from '../bootenv/types.js';
import { assertTransition, isPhase, type Phase } from './phases.js';

/** Bumped only for incompatible changes of the file's meaning. */
export const STATE_SCHEMA_VERSION = 1;

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
  };
}

/** The file's snake_case shape (DESIGN §3.5 keys plus ours). */
export function toFileShape(s: UpdateState): Record<string, unknown> {
  return {
    schema_version: STATE_SCHEMA_VERSION,
    phase: s.phase,
    from_version: s.fromVersion ?? '',
    to_version: s.toVersion ?? '',
    target_slot: s.targetSlot ?? '',
    started_at: s.startedAt ?? '',
    updated_at: s.updatedAt ?? '',
    last_error: s.lastError ?? '',
    reason: s.reason ?? '',
    attempt_count: s.attemptCount,
    health_check_failures: s.healthCheckFailures,
    kernel_sha256: s.kernelSha256 ?? '',
    initramfs_sha256: s.initramfsSha256 ?? '',
    activated_boot_id: s.activatedBootId ?? '',
  };
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
  return {
    phase: obj.phase,
    fromVersion: optString(obj, 'from_version'),
    toVersion: optString(obj, 'to_version'),
    targetSlot: target,
    startedAt: optString(obj, 'started_at'),
    updatedAt: optString(obj, 'updated_at'),
    lastError: optString(obj, 'last_error'),
    reason: optString(obj, 'reason'),
    attemptCount: count(obj, 'attempt_count'),
    healthCheckFailures: count(obj, 'health_check_failures'),
    kernelSha256: optString(obj, 'kernel_sha256'),
    initramfsSha256: optString(obj, 'initramfs_sha256'),
    activatedBootId: optString(obj, 'activated_boot_id'),
  };
}

export interface StateReadResult {
  state: UpdateState;
  /** Set when the file was corrupt and moved aside. */
  corruptPath?: string;
  corruptReason?: string;
}

export interface StateStore {
  readonly path: string;
  read(): Promise<StateReadResult>;
  /**
   * Move to `phase` with `changes` applied, enforcing the transition rules, stamping
   * updated_at, and writing atomically. Returns the new state.
   */
  transition(
    from: UpdateState,
    phase: Phase,
    changes?: Partial<Omit<UpdateState, 'phase'>>,
  ): Promise<UpdateState>;
}

export function createStateStore(path: string, clock: Clock, log: Logger): StateStore {
  async function write(state: UpdateState): Promise<void> {
    try {
      await atomicWriteFile(path, JSON.stringify(toFileShape(state), null, 2) + '\n', {
        mkdirp: true,
      });
    } catch (err) {
      throw new OperationError('STATE_WRITE_FAILED', `cannot write ${path}`, {
        cause: err,
        details: { path, errno: errnoCode(err) },
      });
    }
  }

  return {
    path,
    async read() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return { state: idleState() };
        throw new OperationError('STATE_READ_FAILED', `cannot read ${path}`, {
          cause: err,
          details: { path, errno: errnoCode(err) },
        });
      }
      try {
        return { state: parseStateFile(text) };
      } catch (err) {
        if (!(err instanceof StateFormatError)) throw err;
        // Keep the evidence for the operator, then start over from idle.
        const stamp = clock.now().toISOString().replace(/[:.]/g, '-');
        const corruptPath = `${path}.corrupt-${stamp}`;
        await rename(path, corruptPath).catch(() => undefined);
        log.warn('state file is corrupt; moved aside and treated as idle', {
          code: 'STATE_CORRUPT',
          path,
          corruptPath,
          problem: err.message,
        });
        return { state: idleState(), corruptPath, corruptReason: err.message };
      }
    },
    async transition(from, phase, changes = {}) {
      assertTransition(from.phase, phase);
      const next: UpdateState = {
        ...from,
        ...changes,
        phase,
        updatedAt: clock.now().toISOString(),
      };
      await write(next);
      return next;
    },
  };
}
