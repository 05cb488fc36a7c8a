import { forget } from '../../agent/lifecycle/controls.js';
import { withAgent } from '../../agent/session.js';
import type { Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';
import { versionArgument } from './version-arg.js';

export const forgetCommand: Command<AgentGlobal> = {
  name: 'forget',
  summary: 'Release a quarantined VERSION (and its verification back-off)',
  usage: 'forget VERSION [options]',
  globals: DEVICE_GLOBALS,
  description: [
    'apply may install VERSION again. A quarantine never expires by itself: this is how it',
    'ends (or a newer release, or the same version with other images, or apply --force).',
    'NOT_QUARANTINED (exit 3) when VERSION is neither quarantined nor backed off.',
  ].join('\n'),
  async run(ctx) {
    const version = versionArgument('forget', ctx.positionals, true)!;
    await withAgent(ctx.global, ctx.log, { lock: 'required' }, (agent) =>
      forget(agent.deps, version),
    );
    ctx.out.line(`${version} forgotten: apply may install it again.`);
    ctx.out.data({ ok: true, version, quarantined: false });
  },
};
