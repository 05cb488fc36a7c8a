/**
 * Shared plumbing of the agent's commands: build the AgentContext from the global
 * options, hold the run lock for commands that change state, release it on every path,
 * and turn SIGTERM/SIGINT into a clean stop (docs/operating.md "Signals"): the running
 * work is aborted through an AbortSignal, the lifecycle records `failed`/`INTERRUPTED`,
 * the lock is released, and the command exits 143 (SIGTERM) or 130 (SIGINT). A second
 * signal exits at once.
 */
import { acquireLock, type Lock } from '../../agent/lock.js';
import { createAgentContext, type AgentContext } from '../../agent/context.js';
import { InterruptedError, KubesoloError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { CommandContext } from '../command.js';
import { checkRoot, type AgentGlobal } from './global.js';

/** Lock failures that mean "the state partition cannot be written", not "someone else runs". */
const UNWRITABLE_STATE = new Set(['STATE_READ_ONLY', 'STATE_NO_SPACE', 'LOCK_FAILED']);

export interface SessionOptions {
  /** Take the run lock (every command that may write state). */
  lock: boolean;
  /**
   * Run without the lock when the state partition cannot hold one (read-only, full):
   * for `rollback` and `healthcheck`, which must work when the device needs them most.
   */
  lockOptional?: boolean;
  /** Render download progress (apply). */
  progress?: boolean;
}

/** Abort the run on SIGTERM/SIGINT; a second signal exits immediately. */
function interruptOnSignals(log: Logger): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handlers = (['SIGTERM', 'SIGINT'] as const).map((name) => {
    const handler = () => {
      if (controller.signal.aborted) {
        process.exit(new InterruptedError(name).exitCode);
      }
      log.warn(`${name} received: stopping`, { code: 'INTERRUPTED' });
      controller.abort(new InterruptedError(name));
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: controller.signal,
    dispose: () => handlers.forEach(([name, handler]) => process.off(name, handler)),
  };
}

/**
 * The run lock; with `optional`, a state partition that cannot hold one (read-only,
 * full) yields a lock that holds nothing, with a warning. Another run holding it is
 * always LOCKED.
 */
export async function takeRunLock(path: string, optional: boolean, log: Logger): Promise<Lock> {
  try {
    return await acquireLock(path);
  } catch (err) {
    if (!optional || !(err instanceof KubesoloError && UNWRITABLE_STATE.has(err.code))) {
      throw err;
    }
    log.warn('the state partition cannot hold the run lock; going on without it', {
      code: err.code,
      ...err.details,
    });
    return { release: () => Promise.resolve() };
  }
}

export async function withAgent<T>(
  ctx: CommandContext<AgentGlobal>,
  options: SessionOptions,
  fn: (agent: AgentContext) => Promise<T>,
): Promise<T> {
  const g = ctx.global;
  checkRoot(g.root);
  const interrupt = options.lock ? interruptOnSignals(ctx.log) : undefined;
  try {
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
        // --quiet (log level warn or above) also silences the progress line.
        progress: options.progress === true && !g.json && ['debug', 'info'].includes(g.logLevel),
        strict: g.strict,
        ...(interrupt ? { signal: interrupt.signal } : {}),
      },
      ctx.log,
    );
    if (!options.lock) return await fn(agent);
    const lock = await takeRunLock(agent.paths.lock, options.lockOptional === true, ctx.log);
    try {
      return await fn(agent);
    } finally {
      await lock.release();
    }
  } finally {
    interrupt?.dispose();
  }
}
