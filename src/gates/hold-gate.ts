/**
 * The `hold` gate (docs/operating.md "Holding a device"): an operator's hold stops
 * `apply` and `activate` before any network work. Not a policy `--force` overrides: the
 * operator who held the device releases it with `unhold`.
 */
import type { Hold } from '../stores/hold.js';
import type { GateVerdict } from './verdict.js';

export function holdGate(hold: Hold | undefined): GateVerdict {
  const gate = 'hold';
  if (hold === undefined) return { gate, pass: true, message: 'not held' };
  const since = hold.since ? ` since ${hold.since}` : '';
  const why = hold.problem
    ? hold.problem.message
    : hold.reason !== undefined
      ? `held${since}: ${hold.reason}`
      : `held${since}`;
  return {
    gate,
    pass: false,
    code: 'HELD',
    message: `${why}; 'kubesolo-update unhold' releases the device`,
  };
}
