import { activate } from '../../agent/lifecycle/activate.js';
import { withAgent } from '../../agent/session.js';
import { boolOpt, type Command } from '../command.js';
import { SOURCE_GLOBALS, type AgentGlobal } from './global.js';

export const activateCommand: Command<AgentGlobal> = {
  name: 'activate',
  summary: 'Make the staged slot the one GRUB tries on next boot',
  globals: SOURCE_GLOBALS,
  description: [
    'Only from phase staged, inside the maintenance window with commit_deadline of it left,',
    'and not while held. Fetches and verifies the release on offer again: an expired, paused,',
    'superseded or quarantined release is not activated (a refusal keeps it staged). Then',
    're-hashes the staged slot and sets active_slot, boot_counter=3, boot_success=0 in one',
    'atomic boot-environment write. --force skips the window and the look at the offer.',
  ].join('\n'),
  options: {
    reboot: { type: 'boolean', description: 'Reboot into the new slot afterwards' },
  },
  async run(ctx) {
    const session = { lock: 'required', rebootAfter: () => boolOpt(ctx.values, 'reboot') } as const;
    // Printed once the session is over: a stop asked for meanwhile ends it as stopped.
    const state = await withAgent(ctx.global, ctx.log, session, (agent) =>
      activate(agent.deps, { force: ctx.global.force }),
    );
    ctx.out.line(
      `Activated slot ${state.targetSlot ?? '?'} (${state.toVersion ?? '?'}): it boots on the next restart.`,
    );
    ctx.out.data({
      ok: true,
      phase: state.phase,
      slot: state.targetSlot,
      version: state.toVersion,
    });
  },
};
