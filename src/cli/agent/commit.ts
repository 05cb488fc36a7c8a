import { commit } from '../../agent/lifecycle/commit.js';
import { withAgent } from '../../agent/session.js';
import type { Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

export const commitCommand: Command<AgentGlobal> = {
  name: 'commit',
  summary: 'Commit the running trial by hand, as a passing health check does',
  globals: DEVICE_GLOBALS,
  description: [
    'Only on a boot of the slot on trial (phase activated or verifying, running the target',
    'slot, the bootloader still trying it): marks it good, records phase success and the',
    'anti-rollback floor. Otherwise refused: NOTHING_ON_TRIAL or TRIAL_NOT_RUNNING, exit 3.',
  ].join('\n'),
  async run(ctx) {
    const state = await withAgent(ctx.global, ctx.log, { lock: 'optional' }, (agent) =>
      commit(agent.deps),
    );
    ctx.out.line(`Committed slot ${state.targetSlot ?? '?'} (${state.toVersion ?? '?'}).`);
    ctx.out.data({
      ok: true,
      phase: state.phase,
      slot: state.targetSlot,
      version: state.toVersion,
    });
  },
};
