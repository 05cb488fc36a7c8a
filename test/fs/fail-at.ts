/** Atomic-write options that throw at one step, as a crash or power cut there would. */
import type { AtomicWriteStep } from '../../src/fs/atomic.js';

export function failAt(
  step: AtomicWriteStep,
  what = 'crash',
): {
  onStep: (s: AtomicWriteStep) => void;
} {
  return {
    onStep: (s) => {
      if (s === step) throw new Error(`${what} at ${s}`);
    },
  };
}
