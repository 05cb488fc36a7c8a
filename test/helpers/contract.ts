/**
 * Contract values written out once for the tests that check them, so expectations
 * never come from the code under test.
 */

/** The nine phases of state.json, in the documented order (docs/operating.md). */
export const PHASE_NAMES = [
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
