/** Which (sub)command argv names, and the error for a word that names none. */
import { UsageError } from '../errors.js';
import type { Command, Program } from './command.js';
import { didYouMean } from '../config/suggest.js';

/**
 * Find the (sub)command named by the words of argv. A word that names a command at the
 * current level extends the path; every other word (options, their values, positionals)
 * is kept for parseArgs. So `--root /tmp/r status` and `status --root /tmp/r` both work.
 */
export function resolveCommand<G>(
  commands: Command<G>[],
  argv: string[],
): { cmd: Command<G> | undefined; path: string[]; rest: string[] } {
  let list = commands;
  let cmd: Command<G> | undefined;
  const path: string[] = [];
  const rest: string[] = [];
  let afterDoubleDash = false;
  for (const word of argv) {
    if (word === '--') afterDoubleDash = true;
    const next =
      !afterDoubleDash && !word.startsWith('-') ? list.find((c) => c.name === word) : undefined;
    if (next) {
      cmd = next;
      path.push(word);
      list = next.subcommands ?? [];
    } else {
      rest.push(word);
    }
  }
  return { cmd, path, rest };
}

/** UNKNOWN_COMMAND with the nearest name and where to look. */
export function unknownCommand<G>(
  program: Program<G>,
  word: string,
  among: Command<G>[],
  path: string[],
): UsageError {
  const where = path.length ? `'${program.name} ${path.join(' ')}'` : program.name;
  const list = path.length ? `${program.name} ${path.join(' ')} --help` : `${program.name} help`;
  return new UsageError(
    'UNKNOWN_COMMAND',
    `unknown command '${word}' for ${where}.${didYouMean(
      word,
      among.map((c) => c.name),
    )} Run '${list}' for the list of commands.`,
    { details: { command: word } },
  );
}
