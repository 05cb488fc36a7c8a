/**
 * The update lifecycle's phases and the transitions between them (docs/design.md §2), enforced
 * in this one place. Every state write goes through `assertTransition`.
 */
import { OperationError } from '../errors.js';

export const PHASES = [
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
export type Phase = (typeof PHASES)[number];

const TERMINAL_PHASES: readonly Phase[] = ['success', 'rolled_back', 'failed'];

export function isPhase(value: unknown): value is Phase {
  return typeof value === 'string' && (PHASES as readonly string[]).includes(value);
}

/** Phases from which a new `apply` may start an attempt. */
const RESTARTABLE: readonly Phase[] = [
  'idle',
  ...TERMINAL_PHASES,
  // A previous attempt that was killed mid-way (crash, power cut) is simply restarted;
  // the download resumes from its partial files.
  'checking',
  'downloading',
  // A staged but never activated image may be replaced by a newer one: the slot it
  // sits in is not selectable until `activate`.
  'staged',
];

/**
 * Allowed transitions: from → to. Self-transitions (same phase, new fields) are
 * always allowed so progress can be recorded.
 */
const TRANSITIONS: Record<Phase, readonly Phase[]> = {
  idle: ['checking', 'failed', 'rolled_back'],
  checking: ['checking', 'downloading', 'idle', 'failed'],
  downloading: ['checking', 'staged', 'failed'],
  // staged → idle: an operator's `mark-bad VERSION` un-stages it (the slot is never selectable).
  staged: ['checking', 'activated', 'failed', 'rolled_back', 'idle'],
  // activated → rolled_back: boot fallback, health-check rollback or manual rollback.
  activated: ['verifying', 'success', 'rolled_back', 'failed'],
  // verifying → activated: checks failed but the rollback threshold is not reached yet.
  verifying: ['success', 'activated', 'rolled_back', 'failed'],
  success: ['checking', 'idle', 'failed', 'rolled_back'],
  rolled_back: ['checking', 'idle', 'failed', 'rolled_back'],
  failed: ['checking', 'idle', 'failed', 'rolled_back'],
};

export function canTransition(from: Phase, to: Phase): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

export function assertTransition(from: Phase, to: Phase): void {
  if (!canTransition(from, to)) {
    throw new OperationError('INVALID_TRANSITION', `cannot go from phase ${from} to ${to}`, {
      details: { from, to },
    });
  }
}

export function canStartAttempt(phase: Phase): boolean {
  return RESTARTABLE.includes(phase);
}
