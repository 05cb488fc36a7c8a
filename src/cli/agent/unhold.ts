import { unhold } from '../../agent/lifecycle/controls.js';
import { withAgent } from '../../agent/session.js';
import type { Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

export const unholdCommand: Command<AgentGlobal> = {
  name: 'unhold',
  summary: 'Let updates run again after hold',
  globals: DEVICE_GLOBALS,
  description: 'Removes the hold (also one whose file is damaged). Not held: says so, exit 0.',
  async run(ctx) {
    const was = await withAgent(ctx.global, ctx.log, {}, (agent) => unhold(agent.deps));
    ctx.out.line(was ? 'Released: updates run again.' : 'Not held: nothing to release.');
    ctx.out.data({ ok: true, held: false, was_held: was });
  },
};
