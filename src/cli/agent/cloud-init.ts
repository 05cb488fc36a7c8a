import { onlyPositional, type Command } from '../command.js';
import type { AgentGlobal } from './global.js';

export const cloudInitCommand: Command<AgentGlobal> = {
  name: 'cloud-init',
  summary: 'Apply the updates: block of a cloud-init file to update.conf',
  subcommands: [
    {
      name: 'apply',
      summary: 'Write update.conf from the updates: block of FILE',
      usage: 'cloud-init apply FILE [options]',
      globals: ['root', 'conf', 'strict'],
      description: [
        'Reads FILE as cloud-init does (YAML 1.1) and sets the update.conf keys of its',
        'top-level updates: block (server, channel, maintenance_window, pubkey,',
        'healthcheck_url, auto_rollback_after, ...) under --root; other lines of an',
        'existing update.conf are kept. An inline pubkey (64 hex) is written to',
        '/etc/kubesolo/update.pub. No updates: block, or an empty one: nothing is touched.',
        'Any invalid value: exit 2 naming the YAML line, and nothing is written.',
        'An unknown key is ignored with a warning (and the key it is probably a typo of);',
        'with --strict it is an error (CONFIG_UNKNOWN_KEY, exit 2) and nothing is written.',
      ].join('\n'),
      async run({ positionals, global, log, out }) {
        const file = onlyPositional(positionals, 'cloud-init apply needs exactly one FILE');
        // Loaded on demand: the YAML parser is the heaviest module of the agent, and
        // every other command would pay for it at start-up (bench/RESULTS.md).
        const { applyCloudInit } = await import('../../cloudinit/apply.js');
        const r = await applyCloudInit({
          file,
          root: global.root,
          confPath: global.conf,
          strict: global.strict,
          log,
        });
        for (const i of r.ignored) out.line(`ignored updates.${i.key} (line ${i.line}): ${i.why}`);
        if (r.outcome === 'no-updates-block') {
          out.line(`no updates: block in ${file}; ${r.confFile} left alone`);
        } else if (r.outcome === 'unchanged') {
          out.line(`${r.confFile} already up to date`);
        } else {
          out.line(`wrote ${r.confFile}: ${r.keys.join(', ')}`);
        }
        if (r.pubkeyWritten) out.line(`wrote ${r.pubkeyFile}`);
        out.data({ ok: true, ...r });
      },
    },
  ],
};
