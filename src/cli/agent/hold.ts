import { hold } from '../../agent/lifecycle/controls.js';
import { withAgent } from '../../agent/session.js';
import { stringOpt, type Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

export const holdCommand: Command<AgentGlobal> = {
  name: 'hold',
  summary: 'Stop updates on this device until unhold',
  globals: DEVICE_GLOBALS,
  description: [
    'While held, apply and activate refuse (HELD, exit 3; --force does not pass it) and',
    'check says why. A running apply stops before it activates. Holding a held device',
    'replaces the reason. Shown by status, status --json and the metrics.',
  ].join('\n'),
  options: {
    reason: { type: 'string', valueName: 'TEXT', description: 'Why (shown by status and check)' },
  },
  async run(ctx) {
    const held = await withAgent(ctx.global, ctx.log, {}, (agent) =>
      hold(agent.deps, stringOpt(ctx.values, 'reason')),
    );
    ctx.out.line(
      `Held${held.reason ? `: ${held.reason}` : ''}. 'kubesolo-update unhold' releases it.`,
    );
    ctx.out.data({ ok: true, held: true, reason: held.reason ?? null, since: held.since });
  },
};
