import { reconcile } from '../../agent/lifecycle.js';
import {
  buildStatus,
  formatStatus,
  statusProblem,
  type StatusInputs,
  type StatusProblem,
} from '../../agent/status.js';
import type { AgentContext } from '../../agent/context.js';
import { parseRunningSlot, readCmdline } from '../../bootenv/cmdline.js';
import { ExitCode } from '../../errors.js';
import type { Command } from '../command.js';
import type { AgentGlobal } from './global.js';
import { withAgent } from './session.js';

/**
 * Read what can be read. Both sides readable: the reconciled view (a boot fallback is
 * shown as it will be recorded, without writing: status takes no lock and writes
 * nothing, so it works on a read-only or full state partition). Otherwise each side on
 * its own, and a problem for the other.
 */
async function gather(agent: AgentContext): Promise<StatusInputs> {
  const { deps, paths } = agent;
  try {
    const { state, boot } = await reconcile(deps, 'none');
    return { state, boot, runningSlot: boot.runningSlot, problems: [] };
  } catch {
    // Fall through: find out which side failed.
  }
  const problems: StatusProblem[] = [];
  const state = await deps.state.read().then(
    (r) => r.state,
    (err: unknown) => void problems.push(statusProblem('state', err)),
  );
  const boot = await deps.bootEnv.read().then(
    (b) => b,
    (err: unknown) => void problems.push(statusProblem('grubenv', err)),
  );
  // The running slot comes from the kernel command line, not the GRUB environment.
  const cmdline = boot ? undefined : await readCmdline(paths.cmdline).catch(() => undefined);
  const runningSlot = boot?.runningSlot ?? (cmdline ? parseRunningSlot(cmdline) : undefined);
  return { state: state ?? undefined, boot: boot ?? undefined, runningSlot, problems };
}

export const statusCommand: Command<AgentGlobal> = {
  name: 'status',
  summary: 'Show slots, versions, boot counter and update phase',
  async run(ctx) {
    return withAgent(ctx, { lock: false }, async (agent) => {
      const report = await buildStatus(await gather(agent), agent.deps.slots);
      ctx.out.data(report);
      for (const line of formatStatus(report)) ctx.out.line(line);
      // Everything readable was shown; a script still learns that something was not.
      for (const p of report.problems)
        ctx.log.error(`cannot read ${p.source}: ${p.message}`, { ...p });
      return report.problems.length > 0 ? ExitCode.FAILED : ExitCode.OK;
    });
  },
};
