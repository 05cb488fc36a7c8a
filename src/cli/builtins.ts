/**
 * Commands both binaries have, built from the program's own command table: `help`,
 * `completion bash|zsh` and `man`. Nothing here lists a command or an option by hand.
 */
import { ExitCode, UsageError } from '../errors.js';
import type { Command, Program } from './command.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { commandHelp, programHelp } from './help.js';
import { manPage } from './manpage.js';
import { resolveCommand, unknownCommand } from './resolve.js';

export function builtinCommands<G>(program: Program<G>): Command<G>[] {
  const pageNames = Object.keys(program.pages ?? {});
  const help: Command<G> = {
    name: 'help',
    summary: 'Show help for the program or a command',
    usage: 'help [COMMAND...]',
    run({ positionals }) {
      const { cmd, path, rest } = resolveCommand(program.commands, positionals);
      const all = [...program.commands, help, completion, man];
      if (rest.length > 0) {
        const among = cmd?.subcommands ?? all;
        throw unknownCommand(program, rest[0]!, among, path);
      }
      const text = cmd === undefined ? programHelp(program, all) : commandHelp(program, path, cmd);
      process.stdout.write(text + '\n');
      return Promise.resolve(ExitCode.OK);
    },
  };
  const completion: Command<G> = {
    name: 'completion',
    summary: 'Print a bash or zsh completion script',
    usage: 'completion bash|zsh',
    description: [
      'bash: source it, or save it as /usr/share/bash-completion/completions/' + program.name,
      `zsh:  save it as _${program.name} in a directory on $fpath, or source it after compinit`,
    ].join('\n'),
    run({ positionals }) {
      const shell = positionals[0];
      if (positionals.length !== 1 || (shell !== 'bash' && shell !== 'zsh')) {
        throw new UsageError('MISSING_ARGUMENT', 'completion needs one shell: bash or zsh', {
          details: { shell: shell ?? null },
        });
      }
      const all = [...program.commands, help, completion, man];
      process.stdout.write(
        shell === 'bash' ? bashCompletion(program, all) : zshCompletion(program, all),
      );
      return Promise.resolve(ExitCode.OK);
    },
  };
  const man: Command<G> = {
    name: 'man',
    summary: 'Print the manual page (roff; read it with man -l FILE)',
    usage: pageNames.length ? `man [${pageNames.join('|')}]` : 'man',
    ...(pageNames.length
      ? { description: `man ${pageNames.join(', man ')}: the file's own page (section 5).` }
      : {}),
    run({ positionals }) {
      const name = positionals[0];
      if (name === undefined) {
        process.stdout.write(manPage(program, [...program.commands, help, completion, man]));
        return Promise.resolve(ExitCode.OK);
      }
      const page = program.pages?.[name];
      if (page === undefined || positionals.length > 1) {
        throw new UsageError(
          'UNKNOWN_PAGE',
          `no manual page ${JSON.stringify(positionals.join(' '))}: ${program.name} man prints ${program.name}(1)${pageNames.map((p) => `, man ${p} prints ${p}(5)`).join('')}`,
          { details: { page: positionals.join(' ') } },
        );
      }
      process.stdout.write(page());
      return Promise.resolve(ExitCode.OK);
    },
  };
  return [help, completion, man];
}
