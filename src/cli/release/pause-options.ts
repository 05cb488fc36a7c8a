/**
 * `--pause` and `--resume` of `publish` and `push` (docs/publishing.md "Pausing a
 * rollout"). Given alone (with the key and where the release lives), they sign the live
 * metadata again with the rollout paused or resumed; `--pause` with a whole release
 * publishes it paused.
 */
import { UsageError } from '../../errors.js';
import { boolOpt, stringOpt, type OptionSpec, type OptionValues } from '../command.js';

export const pauseOptions: Record<string, OptionSpec> = {
  pause: {
    type: 'boolean',
    description:
      'Pause the rollout: alone, sign the live metadata again with paused=true (devices do not start it); with a release, publish it paused',
  },
  resume: {
    type: 'boolean',
    description: 'Resume a paused rollout: sign the live metadata again without paused',
  },
};

export type PauseRequest =
  /** No pause flag: an ordinary publish or push. */
  | { kind: 'none' }
  /** --pause with a whole release: publish it paused. */
  | { kind: 'publish-paused' }
  /** Sign the live metadata again, paused or not. */
  | { kind: 'resign'; paused: boolean };

/**
 * Which of the three a command line asks for. `releaseFlags` are the options that
 * describe a new release (images, version): any of them makes --pause a publish.
 */
export function pauseRequest(
  values: OptionValues,
  command: string,
  releaseFlags: readonly string[],
): PauseRequest {
  const pause = boolOpt(values, 'pause');
  const resume = boolOpt(values, 'resume');
  if (pause && resume) {
    throw new UsageError('CONFLICTING_OPTIONS', '--pause and --resume: choose one');
  }
  if (!pause && !resume) return { kind: 'none' };
  const given = releaseFlags.filter((f) => stringOpt(values, f) !== undefined);
  if (given.length === 0) return { kind: 'resign', paused: pause };
  if (resume) {
    throw new UsageError(
      'CONFLICTING_OPTIONS',
      `${command} --resume signs the live metadata again; it takes no ${given.map((f) => `--${f}`).join(', ')} (a new release is published unpaused without --pause)`,
    );
  }
  return { kind: 'publish-paused' };
}
