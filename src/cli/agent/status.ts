import { acquireLock } from '../../agent/lock.js';
import { reconcile } from '../../agent/lifecycle.js';
import { buildStatus, formatStatus } from '../../agent/status.js';
import { KubesoloError } from '../../errors.js';
import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { withAgent } from './session.js';

export const statusCommand: Command<AgentGlobal> = {
  name: 'status',
  summary: 'Show slots, versions, boot counter and update phase',
  async run(ctx) {
    return withAgent(ctx, { lock: false }, async (agent) => {
      // Record a boot fallback if there is one (needs the lock); when another run holds
      // the lock, report what is on disk without touching it.
      let lock;
      try {
        lock = await acquireLock(agent.paths.lock);
      } catch (err) {
        if (!(err instanceof KubesoloError && err.code === 'LOCKED')) throw err;
      }
      try {
        const { state, boot } = lock
          ? await reconcile(agent.deps)
          : { state: (await agent.deps.state.read()).state, boot: await agent.deps.bootEnv.read() };
        const report = await buildStatus(boot, state, agent.deps.slots);
        ctx.out.data(report);
        for (const line of formatStatus(report)) ctx.out.line(line);
      } finally {
        await lock?.release();
      }
    });
  },
};
