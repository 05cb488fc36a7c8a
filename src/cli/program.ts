/**
 * Argument parsing, --help, and error-to-exit-code mapping for both binaries.
 * Commands never call process.exit; they return an exit code or throw a
 * KubesoloError, and this module turns that into output and an exit.
 */
import { parseArgs } from 'node:util';
import { ExitCode, UsageError } from '../errors.js';
import { createLogger, isLogLevel, type Logger, type LogLevel } from '../log.js';
import { builtinCommands } from './builtins.js';
import type { Command, OptionSpec, OptionValues, Program } from './command.js';
import { exitProcess, reportError } from './exit.js';
import { explainError } from './explain.js';
import { commandHelp, optionsFor, programHelp } from './help.js';
import { createOutput } from './output.js';
import { resolveCommand, unknownCommand } from './resolve.js';
import { nearest } from '../config/suggest.js';

export { commandHelp, programHelp } from './help.js';

/** The program's commands followed by the built-ins (help, completion, man). */
function allCommands<G>(program: Program<G>): Command<G>[] {
  return [...program.commands, ...builtinCommands(program)];
}

function toParseArgsOptions(options: Record<string, OptionSpec>) {
  return Object.fromEntries(
    Object.entries(options).map(([name, spec]) => [
      name,
      {
        type: spec.type,
        ...(spec.short ? { short: spec.short } : {}),
        ...(spec.multiple ? { multiple: true } : {}),
      },
    ]),
  );
}

/** Where else an option is read, for "status does not take --server". */
function commandsTaking<G>(program: Program<G>, name: string): string[] {
  const out: string[] = [];
  const visit = (cmds: Command<G>[], prefix: string[]) => {
    for (const c of cmds) {
      const p = [...prefix, c.name];
      if (c.run && name in optionsFor(program, c)) out.push(p.join(' '));
      visit(c.subcommands ?? [], p);
    }
  };
  visit(program.commands, []);
  return out;
}

/** parseArgs' errors, reworded: which option, the nearest one, where to read more. */
function usageErrorFrom<G>(
  err: unknown,
  program: Program<G>,
  path: string[],
  accepted: Record<string, OptionSpec>,
): UsageError {
  const message = err instanceof Error ? err.message : String(err);
  const helpHint = `Run '${[program.name, ...path].join(' ')} --help' for its options.`;
  const unknown = /^Unknown option '(-{1,2})([^'=]+)/.exec(message);
  if (!unknown) {
    return new UsageError('USAGE', `${message.replace(/\.?$/, '.')} ${helpHint}`, { cause: err });
  }
  const [, dashes, name] = unknown as unknown as [string, string, string];
  const flag = `${dashes}${name}`;
  const who = path.length ? `'${path.join(' ')}'` : program.name;
  const elsewhere = dashes === '--' ? commandsTaking(program, name) : [];
  const near = nearest(name, Object.keys(accepted));
  const text =
    elsewhere.length > 0
      ? `${who} does not take ${flag}; it is an option of ${elsewhere.map((c) => `'${c}'`).join(', ')}. ${helpHint}`
      : `unknown option ${flag} for ${who}.${near ? ` Did you mean '--${near}'?` : ''} ${helpHint}`;
  // No `cause`: parseArgs' own text advises '--', which is never the fix here.
  return new UsageError('UNKNOWN_OPTION', text, {
    details: { option: flag, ...(elsewhere.length ? { readBy: elsewhere } : {}) },
  });
}

/** --quiet, --verbose and --log-level are three spellings of one setting: one at most. */
function logLevelOf(values: OptionValues): LogLevel {
  const given = [
    values['log-level'] !== undefined ? '--log-level' : undefined,
    values.quiet === true ? '--quiet' : undefined,
    values.verbose === true ? '--verbose' : undefined,
  ].filter((g) => g !== undefined);
  if (given.length > 1) {
    throw new UsageError('CONFLICTING_OPTIONS', `${given.join(' and ')}: choose one`);
  }
  if (values.quiet === true) return 'warn';
  if (values.verbose === true) return 'debug';
  const level = typeof values['log-level'] === 'string' ? values['log-level'] : 'info';
  if (!isLogLevel(level)) {
    throw new UsageError(
      'INVALID_LOG_LEVEL',
      `--log-level must be one of debug, info, warn, error, silent`,
    );
  }
  return level;
}

/** Copy each alias's value to the option it stands for (aliases are never read). */
function applyAliases(values: OptionValues, aliases: Record<string, string> | undefined): void {
  for (const [alias, name] of Object.entries(aliases ?? {})) {
    if (values[alias] !== undefined && values[name] === undefined) values[name] = values[alias];
    delete values[alias];
  }
}

/** Parse argv, run the command, and return the exit code (no process.exit). */
async function runProgram<G>(program: Program<G>, argv: string[]): Promise<number> {
  const commands = allCommands(program);
  const { cmd, path, rest: commandArgs } = resolveCommand(commands, argv);
  const accepted = optionsFor(program, cmd);
  const aliasSpecs = Object.fromEntries(
    Object.entries(cmd?.aliases ?? {}).map(([alias, name]) => [alias, accepted[name]!]),
  );

  let values: OptionValues;
  let positionals: string[];
  const early = createOutput(argv.includes('--json'));
  const earlyLog = createLogger({ level: 'info' });
  try {
    const parsed = parseArgs({
      args: commandArgs,
      options: toParseArgsOptions({ ...accepted, ...aliasSpecs }),
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values as OptionValues;
    positionals = parsed.positionals;
  } catch (err) {
    return reportError(usageErrorFrom(err, program, path, accepted), earlyLog, early);
  }
  applyAliases(values, cmd?.aliases);

  if (values.version === true && !cmd) {
    process.stdout.write(`${program.version}\n`);
    return ExitCode.OK;
  }
  if (!cmd) {
    if (positionals.length > 0) {
      return reportError(unknownCommand(program, positionals[0]!, commands, []), earlyLog, early);
    }
    const help = programHelp(program, commands);
    if (values.help === true) {
      process.stdout.write(help + '\n');
      return ExitCode.OK;
    }
    process.stderr.write(help + '\n');
    return ExitCode.USAGE;
  }
  if (values.help === true) {
    process.stdout.write(commandHelp(program, path, cmd) + '\n');
    return ExitCode.OK;
  }
  if (!cmd.run) {
    if (positionals.length > 0) {
      const err = unknownCommand(program, positionals[0]!, cmd.subcommands ?? [], path);
      return reportError(err, earlyLog, early);
    }
    process.stderr.write(commandHelp(program, path, cmd) + '\n');
    return ExitCode.USAGE;
  }

  const out = createOutput(values.json === true);
  let log: Logger = earlyLog;
  try {
    const level = logLevelOf(values);
    values['log-level'] = level;
    log = createLogger({ level });
    const global = program.makeGlobal(values);
    const code = await cmd.run({ values, positionals, global, log, out });
    return code ?? ExitCode.OK;
  } catch (err) {
    return reportError(explainError(err, program.permissionHint), log, out);
  }
}

/** Entry point helper for the bundles: run and exit with flushed output. */
/**
 * A reader that goes away (`status | head -3`) must not crash the agent with EPIPE in
 * the middle of its work (an apply whose output nobody reads any more still finishes):
 * output to a closed pipe is dropped, and the command ends with its own exit code.
 */
function dropOutputToClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
}

export async function main<G>(program: Program<G>): Promise<void> {
  dropOutputToClosedPipes();
  const code = await runProgram(program, process.argv.slice(2));
  await exitProcess(code);
}
