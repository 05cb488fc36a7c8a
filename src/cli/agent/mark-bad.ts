import { markTrialBad } from '../../agent/lifecycle/commit.js';
import { markVersionBad } from '../../agent/lifecycle/controls.js';
import { withAgent } from '../../agent/session.js';
import { UsageError } from '../../errors.js';
import { boolOpt, type Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';
import { versionArgument } from './version-arg.js';

export const markBadCommand: Command<AgentGlobal> = {
  name: 'mark-bad',
  summary: 'Quarantine a release: the trial (rolled back) or a VERSION',
  usage: 'mark-bad [VERSION] [options]',
  globals: DEVICE_GLOBALS,
  description: [
    'Without VERSION: the release on trial is quarantined and the bootloader goes back to',
    'the other slot (--reboot to reboot into it); NOTHING_ON_TRIAL (exit 3) when none is.',
    'With VERSION: every release of it is quarantined, and un-staged if it is staged; a',
    'running trial of it is left alone (mark-bad without VERSION rolls it back).',
    'apply refuses a quarantined release (QUARANTINED, exit 3) until forget or --force.',
  ].join('\n'),
  options: {
    reboot: { type: 'boolean', description: 'Without VERSION: reboot into the other slot' },
  },
  async run(ctx) {
    const version = versionArgument('mark-bad', ctx.positionals, false);
    const reboot = boolOpt(ctx.values, 'reboot');
    if (version !== undefined) {
      if (reboot)
        throw new UsageError('USAGE', '--reboot goes with mark-bad of the trial (no VERSION)');
      const r = await withAgent(ctx.global, ctx.log, { lock: 'required' }, (agent) =>
        markVersionBad(agent.deps, version),
      );
      ctx.out.line(
        `${version} is quarantined: apply refuses it until 'kubesolo-update forget ${version}'.`,
      );
      if (r.unstaged) ctx.out.line(`It was staged: un-staged, it will not be activated.`);
      if (r.onTrial) {
        ctx.out.line(`It is on trial now: 'kubesolo-update mark-bad' (no version) rolls it back.`);
      }
      ctx.out.data({
        ok: true,
        version,
        quarantined: true,
        unstaged: r.unstaged,
        on_trial: r.onTrial,
      });
      return;
    }
    const session = { lock: 'required', rebootAfter: () => reboot } as const;
    const r = await withAgent(ctx.global, ctx.log, session, (agent) => markTrialBad(agent.deps));
    ctx.out.line(
      `${r.left?.version ?? 'The trial'} ${r.quarantined ? 'is quarantined' : 'could not be quarantined (see the log)'}; rolled back: slot ${r.slot} boots on the next restart.`,
    );
    ctx.out.data({
      ok: true,
      version: r.left?.version ?? null,
      quarantined: r.quarantined,
      phase: r.state.phase,
      slot: r.slot,
    });
  },
};
