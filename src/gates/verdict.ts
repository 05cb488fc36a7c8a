/**
 * What a gate says (docs/design.md §2): its name, pass or refuse, and a stable reason
 * code. Every gate returns one; the gate list (gates.ts) and the floor and rollout gates
 * share these types, so none of them imports another's module for them.
 */
import { GateError, type KubesoloError } from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';

export type GateName =
  | 'hold'
  | 'pending_rollback'
  | 'maintenance_window'
  | 'rollout'
  | 'channel'
  | 'architecture'
  | 'compatible'
  | 'min_compatible_version'
  | 'version'
  | 'floor'
  | 'quarantine'
  | 'verification_backoff'
  | 'free_space'
  | 'node_block';

export interface GateVerdict {
  gate: GateName;
  /** false: the update is refused by this gate. */
  pass: boolean;
  /** Stable reason code of a refusal (or of a notable pass such as UP_TO_DATE). */
  code?: ReasonCode;
  message: string;
  /** true when the gate did not apply (not configured, forced, no data). */
  skipped?: boolean;
  /** A pass the operator should hear about (apply logs it as a warning). */
  warning?: boolean;
  /**
   * The facts behind the message, exact, for --json and the refusal's details (bytes,
   * times): the message rounds them for people.
   */
  facts?: Record<string, string | number>;
}

/** The error a refusal is thrown as: its code (exit 3), the gate in the details. */
export function refusalError(verdict: GateVerdict): KubesoloError {
  const code = verdict.code ?? 'GATE_REFUSED';
  return new GateError(code, `${verdict.gate}: ${verdict.message}`, {
    details: { ...verdict.facts, gate: verdict.gate },
  });
}
