/**
 * Argument parsing, --help, and error-to-exit-code mapping for both binaries.
 * Commands never call process.exit; they return an exit code or throw a
 * KubesoloError, and this module turns that into output and an exit.
 */
import { parseArgs } from 'node:util';
import { ExitCode, UsageError } from '../errors.js';
import { createLogger, isLogLevel } from '../log.js';
import type { Command, OptionSpec, OptionValues, Program } from './command.js';
import { exitProcess, reportError } from './exit.js';
import { createOutput } from './output.js';

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length), 10);
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

function commandLines<G>(commands: Command<G>[]): string[] {
  const width = Math.max(...commands.map((c) => c.name.length), 8);
  return commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
}

export function programHelp<G>(program: Program<G>): string {
  return [
    `${program.name} ${program.version}: ${program.summary}`,
    '',
    `Usage: ${program.name} <command> [options]`,
    '',
    'Commands:',
    ...commandLines(program.commands),
    '',
    'Global options:',
    ...optionLines({ ...program.globalOptions, help: helpOption }),
    '',
    `Run '${program.name} <command> --help' for a command's options.`,
    'Exit codes: 0 done, 1 failed, 2 usage/config error, 3 refused by a gate,',
    '            4 verification failed, 5 health check failed.',
  ].join('\n');
}

export function commandHelp<G>(program: Program<G>, path: string[], cmd: Command<G>): string {
  const lines = [
    `Usage: ${program.name} ${cmd.usage ?? `${path.join(' ')} [options]`}`,
    '',
    cmd.summary,
  ];
  if (cmd.description) lines.push('', cmd.description);
  if (cmd.subcommands?.length) lines.push('', 'Commands:', ...commandLines(cmd.subcommands));
  if (cmd.options && Object.keys(cmd.options).length) {
    lines.push('', 'Options:', ...optionLines(cmd.options));
  }
  lines.push('', 'Global options:', ...optionLines({ ...program.globalOptions, help: helpOption }));
  return lines.join('\n');
}

const helpOption: OptionSpec = { type: 'boolean', short: 'h', description: 'Show help' };

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

/**
 * Find the (sub)command named by the words of argv. A word that names a command at the
 * current level extends the path; every other word (options, their values, positionals)
 * is kept for parseArgs. So `--root /tmp/r status` and `status --root /tmp/r` both work.
 */
function resolveCommand<G>(
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

/** Parse argv, run the command, and return the exit code (no process.exit). */
export async function runProgram<G>(program: Program<G>, argv: string[]): Promise<number> {
  const { cmd, path, rest: commandArgs } = resolveCommand(program.commands, argv);

  const optionSpecs: Record<string, OptionSpec> = {
    ...program.globalOptions,
    ...(cmd?.options ?? {}),
    help: helpOption,
  };

  let values: OptionValues;
  let positionals: string[];
  const early = createOutput(argv.includes('--json'));
  const earlyLog = createLogger({ level: 'info' });
  try {
    const parsed = parseArgs({
      args: commandArgs,
      options: toParseArgsOptions(optionSpecs),
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values as OptionValues;
    positionals = parsed.positionals;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return reportError(new UsageError('USAGE', message, { cause: err }), earlyLog, early);
  }

  if (values.version === true && !cmd) {
    process.stdout.write(`${program.version}\n`);
    return ExitCode.OK;
  }
  if (!cmd) {
    if (positionals.length > 0) {
      process.stderr.write(programHelp(program) + '\n');
      return reportError(
        new UsageError('UNKNOWN_COMMAND', `unknown command '${positionals[0]}'`),
        earlyLog,
        early,
      );
    }
    process.stdout.write(programHelp(program) + '\n');
    return values.help === true ? ExitCode.OK : ExitCode.USAGE;
  }
  if (values.help === true || (!cmd.run && cmd.subcommands)) {
    const help = commandHelp(program, path, cmd);
    if (values.help === true) {
      process.stdout.write(help + '\n');
      return ExitCode.OK;
    }
    process.stderr.write(help + '\n');
    return ExitCode.USAGE;
  }

  const mode = program.outputMode(values);
  const levelName = mode.logLevel ?? 'info';
  const out = createOutput(mode.json);
  if (!isLogLevel(levelName)) {
    return reportError(
      new UsageError(
        'INVALID_LOG_LEVEL',
        `--log-level must be one of debug, info, warn, error, silent`,
      ),
      earlyLog,
      out,
    );
  }
  const log = createLogger({ level: levelName });
  try {
    const global = program.makeGlobal(values);
    const code = await cmd.run!({ values, positionals, global, log, out });
    return code ?? ExitCode.OK;
  } catch (err) {
    return reportError(err, log, out);
  }
}

/** Entry point helper for the bundles: run and exit with flushed output. */
export async function main<G>(program: Program<G>): Promise<void> {
  const code = await runProgram(program, process.argv.slice(2));
  await exitProcess(code);
}
