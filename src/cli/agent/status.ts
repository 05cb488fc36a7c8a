import { existsSync, readFileSync } from 'node:fs';
import type { AgentPaths } from '../../agent/context.js';
import { acquireLock } from '../../agent/lock.js';
import { reconcile } from '../../agent/lifecycle.js';
import { buildStatus, formatStatus } from '../../agent/status.js';
import { KubesoloError } from '../../errors.js';
import type { Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';
import { withAgent } from './session.js';

/**
 * A device has update.conf, a grubenv, or `kubesolo.slot=` on its kernel command line.
 * With none of them, --root points at the wrong directory (or this is not a device)
 * and everything status would print is a default, not a fact.
 */
function looksLikeDevice(paths: AgentPaths): boolean {
  if (existsSync(paths.config) || existsSync(paths.grubenv)) return true;
  try {
    return /(^|\s)kubesolo\.slot=/.test(readFileSync(paths.cmdline, 'utf8'));
  } catch {
    return false;
  }
}

export const statusCommand: Command<AgentGlobal> = {
  name: 'status',
  summary: 'Show slots, versions, boot counter and update phase',
  globals: DEVICE_GLOBALS,
  description: [
    'Read-only: creates no file or directory. When a state file exists it also records',
    'a boot fallback it finds (phase rolled_back, BOOT_FALLBACK), under the run lock.',
  ].join('\n'),
  async run(ctx) {
    return withAgent(ctx, { lock: false }, async (agent) => {
      if (!looksLikeDevice(agent.paths)) {
        const message = `${agent.paths.root} does not look like a KubeSolo OS device: no update.conf, no grubenv, no kubesolo.slot= on the kernel command line; what follows are defaults. Pass --root DIR for a device's root, or create a simulated one with 'kubesolo-update dev init-root DIR'.`;
        ctx.log.warn(message, { code: 'NOT_A_DEVICE', root: agent.paths.root });
      }
      // Record a boot fallback if there is one (needs the lock). Only a state file can
      // hold a phase that a fallback changes: without one there is nothing to record,
      // and taking the lock would create its directory. When another run holds the
      // lock, report what is on disk without touching it.
      let lock;
      if (existsSync(agent.paths.state)) {
        try {
          lock = await acquireLock(agent.paths.lock);
        } catch (err) {
          if (!(err instanceof KubesoloError && err.code === 'LOCKED')) throw err;
        }
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
