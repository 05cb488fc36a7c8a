import { rollback } from '../../agent/lifecycle/rollback.js';
import { withAgent } from '../../agent/session.js';
import { boolOpt, type Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

export const rollbackCommand: Command<AgentGlobal> = {
  name: 'rollback',
  summary: 'Switch back to the other slot',
  globals: DEVICE_GLOBALS,
  description:
    'Sets active_slot to the other slot, marked good, and records phase rolled_back\n(MANUAL_ROLLBACK). The release it leaves is quarantined: apply does not install it\nagain until forget. Refuses when the other slot holds no bootable image.',
  options: {
    reboot: { type: 'boolean', description: 'Reboot into the other slot afterwards' },
  },
  async run(ctx) {
    const session = { lock: 'optional', rebootAfter: () => boolOpt(ctx.values, 'reboot') } as const;
    // Printed once the session is over: a stop asked for meanwhile ends it as stopped.
    const { state, slot, left, quarantined } = await withAgent(
      ctx.global,
      ctx.log,
      session,
      (agent) => rollback(agent.deps),
    );
    ctx.out.line(`Rolled back: slot ${slot} boots on the next restart.`);
    if (left !== undefined && quarantined) {
      ctx.out.line(
        `${left.version} is quarantined: apply does not install it again until 'kubesolo-update forget ${left.version}'.`,
      );
    }
    ctx.out.data({
      ok: true,
      phase: state.phase,
      slot,
      quarantined: quarantined ? (left?.version ?? null) : null,
    });
  },
};
