import { existsSync, readFileSync } from 'node:fs';
import { reconcile } from '../../agent/lifecycle.js';
import {
  buildStatus,
  formatStatus,
  statusProblem,
  type StatusInputs,
  type StatusProblem,
} from '../../agent/status.js';
import type { AgentContext, AgentPaths } from '../../agent/context.js';
import { parseRunningSlot, readCmdline } from '../../bootenv/cmdline.js';
import { ExitCode } from '../../errors.js';
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
  globals: DEVICE_GLOBALS,
  description: [
    'Read-only: takes no lock and creates or writes nothing, so it works on a read-only',
    'or full state partition. A boot fallback is shown as the next writing command records it.',
  ].join('\n'),
  async run(ctx) {
    return withAgent(ctx, { lock: false }, async (agent) => {
      if (!looksLikeDevice(agent.paths)) {
        const message = `${agent.paths.root} does not look like a KubeSolo OS device: no update.conf, no grubenv, no kubesolo.slot= on the kernel command line; what follows are defaults. Pass --root DIR for a device's root, or create a simulated one with 'kubesolo-update dev init-root DIR'.`;
        ctx.log.warn(message, { code: 'NOT_A_DEVICE', root: agent.paths.root });
      }
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
