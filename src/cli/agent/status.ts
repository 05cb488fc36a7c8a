import { deviceStatus, formatStatus } from '../../agent/status.js';
import { withAgent } from '../../agent/session.js';
import { ExitCode } from '../../errors.js';
import type { Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

export const statusCommand: Command<AgentGlobal> = {
  name: 'status',
  summary: 'Show slots, versions, boot counter and update phase',
  globals: DEVICE_GLOBALS,
  description: [
    'Read-only: takes no lock and creates or writes nothing, so it works on a read-only',
    'or full state partition. A boot fallback is shown as the next writing command records it.',
  ].join('\n'),
  async run(ctx) {
    const report = await withAgent(ctx.global, ctx.log, {}, deviceStatus);
    ctx.out.data(report);
    for (const line of formatStatus(report)) ctx.out.line(line);
    // Everything readable was shown; a script still learns that something was not.
    for (const p of report.problems)
      ctx.log.error(`cannot read ${p.source}: ${p.message}`, { ...p });
    return report.problems.length > 0 ? ExitCode.FAILED : ExitCode.OK;
  },
};
