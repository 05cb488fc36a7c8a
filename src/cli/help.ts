/**
 * What a command accepts and how --help shows it. A command reads the program's
 * shared global options (every command reads them), the globals it names in
 * `globals`, its own options, and the built-in --help/--quiet/--verbose: exactly
 * these are parsed, listed in --help, completed by the shell and written to the man
 * page, so no list can disagree with another.
 */
import type { Command, OptionSpec, Program } from './command.js';
import { ExitCode } from '../errors.js';

/** Options every command of both binaries takes. */
const BUILTIN_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'Show help' },
  quiet: { type: 'boolean', short: 'q', description: 'Log warnings and errors only' },
  verbose: { type: 'boolean', short: 'v', description: 'Log debug detail' },
};

function pick(all: Record<string, OptionSpec>, names: readonly string[]) {
  return Object.fromEntries(
    names.filter((n) => all[n] !== undefined).map((n) => [n, all[n]!] as const),
  );
}

/** The global options (shared, the command's own picks, built-ins) `cmd` reads. */
export function globalOptionsFor<G>(
  program: Program<G>,
  cmd: Command<G> | undefined,
): Record<string, OptionSpec> {
  if (cmd === undefined) return { ...program.globalOptions, ...BUILTIN_OPTIONS };
  return {
    ...pick(program.globalOptions, program.sharedGlobals),
    ...pick(program.globalOptions, cmd.globals ?? []),
    ...BUILTIN_OPTIONS,
  };
}

/** Every option `cmd` accepts (what the parser is given), keyed by long name. */
export function optionsFor<G>(
  program: Program<G>,
  cmd: Command<G> | undefined,
): Record<string, OptionSpec> {
  return { ...globalOptionsFor(program, cmd), ...(cmd?.options ?? {}) };
}

export function flagText(name: string, spec: OptionSpec): string {
  return `--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}`;
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}${flagText(name, spec)}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length), 10);
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

function commandLines<G>(commands: Command<G>[]): string[] {
  const width = Math.max(...commands.map((c) => c.name.length), 8);
  return commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
}

export const EXIT_CODES: readonly (readonly [ExitCode, string])[] = [
  [ExitCode.OK, 'done'],
  [ExitCode.FAILED, 'failed'],
  [ExitCode.USAGE, 'usage or configuration error'],
  [ExitCode.REFUSED, 'refused by a gate'],
  [ExitCode.VERIFICATION, 'verification failed'],
  [ExitCode.HEALTH, 'health check failed'],
  [ExitCode.INTERRUPTED_SIGINT, 'interrupted by SIGINT (128 + 2, INTERRUPTED)'],
  [ExitCode.INTERRUPTED_SIGTERM, 'interrupted by SIGTERM (128 + 15, INTERRUPTED)'],
];

export function programHelp<G>(program: Program<G>, commands: Command<G>[]): string {
  return [
    `${program.name} ${program.version}: ${program.summary}`,
    '',
    `Usage: ${program.name} <command> [options]`,
    '',
    'Commands:',
    ...commandLines(commands),
    '',
    'Options of every command:',
    ...optionLines({ ...pick(program.globalOptions, program.sharedGlobals), ...BUILTIN_OPTIONS }),
    ...someCommandsOptions(program),
    '',
    `Run '${program.name} help <command>' (or '<command> --help') for a command's options.`,
    `Exit codes: ${EXIT_CODES.map(([c, what]) => `${c} ${what}`).join(', ')}.`,
  ].join('\n');
}

/** The global options only some commands take: each command's --help says which. */
function someCommandsOptions<G>(program: Program<G>): string[] {
  const some = Object.fromEntries(
    Object.entries(program.globalOptions).filter(([name]) => !program.sharedGlobals.includes(name)),
  );
  if (Object.keys(some).length === 0) return [];
  return [
    '',
    "Options some commands take (a command's --help lists its own):",
    ...optionLines(some),
  ];
}

/** The usage line of a command, without the binary name. */
export function usageOf<G>(path: string[], cmd: Command<G>): string {
  return cmd.usage ?? `${path.join(' ')}${cmd.subcommands?.length ? ' <command>' : ''} [options]`;
}

export function commandHelp<G>(program: Program<G>, path: string[], cmd: Command<G>): string {
  const lines = [`Usage: ${program.name} ${usageOf(path, cmd)}`, '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description);
  if (cmd.subcommands?.length) lines.push('', 'Commands:', ...commandLines(cmd.subcommands));
  if (cmd.options && Object.keys(cmd.options).length) {
    lines.push('', 'Options:', ...optionLines(cmd.options));
  }
  lines.push('', 'Global options:', ...optionLines(globalOptionsFor(program, cmd)));
  return lines.join('\n');
}

/** Every (sub)command with its word path, depth first: for completion and the man page. */
export function walkCommands<G>(
  commands: Command<G>[],
  prefix: string[] = [],
): { path: string[]; cmd: Command<G> }[] {
  return commands.flatMap((cmd) => [
    { path: [...prefix, cmd.name], cmd },
    ...walkCommands(cmd.subcommands ?? [], [...prefix, cmd.name]),
  ]);
}
