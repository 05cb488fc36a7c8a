/**
 * The manual page (man(7) roff) generated from the command table: the same summaries,
 * descriptions and options --help prints, so the page cannot drift from the program.
 */
import type { Command, OptionSpec, Program } from './command.js';
import { EXIT_CODES, flagText, globalOptionsFor, usageOf, walkCommands } from './help.js';

/** Escape text for roff: backslashes, hyphens (so they stay ASCII), control lines. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function optionItems(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).flatMap(([name, spec]) => [
    '.TP',
    `.B ${roff(`${spec.short ? `-${spec.short}, ` : ''}${flagText(name, spec)}`)}`,
    roff(spec.description),
  ]);
}

export function manPage<G>(program: Program<G>, commands: Command<G>[]): string {
  const upper = program.name.toUpperCase();
  const lines = [
    `.TH ${roff(upper)} 1 "" "${roff(`${program.name} ${program.version}`)}" "User Commands"`,
    '.SH NAME',
    `${roff(program.name)} \\- ${roff(program.summary)}`,
    '.SH SYNOPSIS',
    `.B ${roff(program.name)}`,
    '.I command',
    '[options]',
    '.SH COMMANDS',
  ];
  for (const { path, cmd } of walkCommands(commands)) {
    lines.push(
      `.SS "${roff(path.join(' '))}"`,
      `.B ${roff(`${program.name} ${usageOf(path, cmd)}`)}`,
    );
    lines.push('.PP', roff(cmd.summary));
    if (cmd.description) lines.push('.PP', '.nf', roff(cmd.description), '.fi');
    if (cmd.options && Object.keys(cmd.options).length) lines.push(...optionItems(cmd.options));
    const extra = cmd.globals ?? [];
    if (extra.length) {
      lines.push('.PP', roff(`Also reads: ${extra.map((g) => `--${g}`).join(', ')}.`));
    }
  }
  lines.push(
    '.SH GLOBAL OPTIONS',
    roff(`Every command reads: ${program.sharedGlobals.map((g) => `--${g}`).join(', ')}.`),
    ...optionItems(globalOptionsFor(program, undefined)),
    '.SH ENVIRONMENT',
    ...program.environment.flatMap(([name, what]) => ['.TP', `.B ${roff(name)}`, roff(what)]),
    '.SH FILES',
    ...program.files.flatMap(([path, what]) => ['.TP', `.I ${roff(path)}`, roff(what)]),
    '.SH EXIT STATUS',
    ...EXIT_CODES.flatMap(([code, what]) => ['.TP', `.B ${code}`, roff(what)]),
    '.PP',
    roff(
      'A command that serves until stopped (serve, metrics --listen) exits 0 on either signal. ' +
        'A second signal during the clean stop exits at once.',
    ),
    '.SH SEE ALSO',
    ...Object.keys(program.pages ?? {}).map((page) => `.BR ${roff(page)} (5),`),
    roff(`${program.name} help COMMAND; the documents under docs/ in the source tree.`),
  );
  return lines.join('\n') + '\n';
}
