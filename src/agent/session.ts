/**
 * One agent command run: build the AgentContext from the request, hold the run lock
 * for commands that change state, release it on every path, and turn SIGTERM/SIGINT
 * into a clean stop (docs/operating.md "Signals"): the running work is aborted through
 * an AbortSignal, the lifecycle records `failed`/`INTERRUPTED` (or, when the step that
 * was running is one that always finishes, what it finished), the lock is released, and
 * the command exits 143 (SIGTERM) or 130 (SIGINT). A second signal exits at once.
 */
import type { BootEnv } from '../bootenv/types.js';
import { InterruptedError } from '../errors.js';
import type { Logger } from '../log.js';
import { createAgentContext, type AgentContext, type AgentRequest } from './context.js';
import type { LockMode } from '../stores/lock.js';
import type { ProgressSink } from './deps.js';
import { requestReboot } from './reboot.js';

export interface SessionOptions<T> {
  /** Take the run lock for the whole command (every command that may write state). */
  lock?: LockMode;
  /** Where download progress goes (apply, on a terminal or in logs). */
  progress?: ProgressSink;
  /**
   * Reboot when the command is done (--reboot), judged on its result: only after the
   * lock is released, so that it is never held into the next boot.
   */
  rebootAfter?: (result: T) => boolean;
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

export async function withAgent<T>(
  request: AgentRequest,
  log: Logger,
  options: SessionOptions<T>,
  fn: (agent: AgentContext) => Promise<T>,
): Promise<T> {
  let bootEnv: BootEnv | undefined;
  const result = await runLocked(request, log, options, (agent) => {
    bootEnv = agent.deps.bootEnv;
    return fn(agent);
  });
  if (options.rebootAfter?.(result)) {
    // The Raspberry Pi firmware tries a slot only on a reboot with "0 tryboot".
    await requestReboot(log, process.env, await bootEnv?.rebootArgument?.());
  }
  return result;
}

async function runLocked<T>(
  request: AgentRequest,
  log: Logger,
  options: SessionOptions<T>,
  fn: (agent: AgentContext) => Promise<T>,
): Promise<T> {
  const interrupt = options.lock ? interruptOnSignals(log) : undefined;
  try {
    const agent = await createAgentContext(request, log, {
      ...(options.progress ? { progress: options.progress } : {}),
      ...(interrupt ? { signal: interrupt.signal } : {}),
    });
    if (!options.lock) return await fn(agent);
    const lock = await agent.deps.lock(options.lock);
    try {
      const result = await fn(agent);
      // A stop asked for while a step that is never cut short ran (an install's renames
      // and read-back): the step's result stands (the state says so), and the command
      // still ends as stopped, 143 or 130, with nothing after it (no activate, no reboot).
      if (interrupt?.signal.aborted) {
        log.warn('stopped after the step in progress finished', { code: 'INTERRUPTED' });
        throw interrupt.signal.reason;
      }
      return result;
    } finally {
      await lock.release();
    }
  } finally {
    interrupt?.dispose();
  }
}
