/**
 * Shared plumbing of the agent's commands: build the AgentContext from the global
 * options, hold the run lock for commands that change state, release it on every path.
 */
import { acquireLock } from '../../agent/lock.js';
import { createAgentContext, type AgentContext } from '../../agent/context.js';
import type { CommandContext } from '../command.js';
import type { AgentGlobal } from './global.js';

export interface SessionOptions {
  /** Take the run lock (every command that may write state). */
  lock: boolean;
  /** Render download progress (apply). */
  progress?: boolean;
}

export async function withAgent<T>(
  ctx: CommandContext<AgentGlobal>,
  options: SessionOptions,
  fn: (agent: AgentContext) => Promise<T>,
): Promise<T> {
  const g = ctx.global;
  const agent = await createAgentContext(
    {
      root: g.root,
      confPath: g.conf,
      statePath: g.state,
      flags: {
        ...(g.server !== undefined ? { server: g.server } : {}),
        ...(g.registry !== undefined ? { registry: g.registry } : {}),
        ...(g.tag !== undefined ? { tag: g.tag } : {}),
        ...(g.channel !== undefined ? { channel: g.channel } : {}),
        ...(g.pubkey !== undefined ? { pubkey: g.pubkey } : {}),
        ...(g.maintenanceWindow !== undefined ? { maintenanceWindow: g.maintenanceWindow } : {}),
        ...(g.timeZone !== undefined ? { timeZone: g.timeZone } : {}),
      },
      progress: options.progress === true && !g.json,
    },
    ctx.log,
  );
  if (!options.lock) return fn(agent);
  const lock = await acquireLock(agent.paths.lock);
  try {
    return await fn(agent);
  } finally {
    await lock.release();
  }
}
