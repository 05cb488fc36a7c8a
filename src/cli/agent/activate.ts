import { activate } from '../../agent/lifecycle/activate.js';
import { withAgent } from '../../agent/session.js';
import { boolOpt, type Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

export const activateCommand: Command<AgentGlobal> = {
  name: 'activate',
  summary: 'Make the staged slot the one GRUB tries on next boot',
  globals: DEVICE_GLOBALS,
  description:
    'Only from phase staged. Re-hashes the staged slot first; then sets active_slot,\nboot_counter=3, boot_success=0 in one atomic GRUB environment write.',
  options: {
    reboot: { type: 'boolean', description: 'Reboot into the new slot afterwards' },
  },
  async run(ctx) {
    const session = { lock: 'required', rebootAfter: () => boolOpt(ctx.values, 'reboot') } as const;
    // Printed once the session is over: a stop asked for meanwhile ends it as stopped.
    const state = await withAgent(ctx.global, ctx.log, session, (agent) => activate(agent.deps));
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
