/** The VERSION argument of `mark-bad` and `forget`: one, and a version the agent can order. */
import { versionProblem } from '../../config/version.js';
import { UsageError } from '../../errors.js';

export function versionArgument(
  command: string,
  positionals: string[],
  required: boolean,
): string | undefined {
  if (positionals.length > 1 || (required && positionals.length === 0)) {
    throw new UsageError(
      'MISSING_ARGUMENT',
      `${command} takes ${required ? 'one VERSION' : 'at most one VERSION'}`,
    );
  }
  const version = positionals[0];
  if (version === undefined) return undefined;
  const problem = versionProblem(version);
  if (problem !== undefined) {
    throw new UsageError('INVALID_VERSION', `'${version}' is not a release version: ${problem}`, {
      details: { version },
    });
  }
  return version;
}
